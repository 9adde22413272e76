import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { intEnv, requiredEnv } from '../../common/config';

/**
 * The read cache in Redis, as the original Python system kept it: `<prefix>:user:<id>`,
 * `<prefix>:order:<id>` and the orders list pages (one hash, `<prefix>:orders`, one field per
 * page), each for CACHE_TTL_SECONDS (30; 0 turns the cache off). A write deletes what it
 * changed. A cache that fails is a miss, never an error.
 */
@Injectable()
export class CacheService implements OnModuleDestroy {
  private readonly logger = new Logger(CacheService.name);
  private readonly redis = new Redis(requiredEnv('REDIS_URL'));
  private readonly prefix = process.env.CACHE_KEY_PREFIX || 'peer:v1';
  private readonly ttl = intEnv('CACHE_TTL_SECONDS', 30);
  readonly ordersKey = `${this.prefix}:orders`;

  get enabled(): boolean {
    return this.ttl > 0;
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  userKey(id: string): string {
    return `${this.prefix}:user:${id}`;
  }

  orderKey(id: string): string {
    return `${this.prefix}:order:${id}`;
  }

  async get<T>(key: string): Promise<T | undefined> {
    if (!this.enabled) return undefined;
    try {
      const text = await this.redis.get(key);
      return text === null ? undefined : (JSON.parse(text) as T);
    } catch (error) {
      this.failed('GET', error);
      return undefined;
    }
  }

  async getMany<T>(keys: string[]): Promise<(T | undefined)[]> {
    if (!this.enabled || keys.length === 0) return keys.map(() => undefined);
    try {
      const texts = await this.redis.mget(keys);
      return texts.map((text) => (text === null ? undefined : (JSON.parse(text) as T)));
    } catch (error) {
      this.failed('MGET', error);
      return keys.map(() => undefined);
    }
  }

  async set(key: string, value: unknown): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.redis.set(key, JSON.stringify(value), 'EX', this.ttl);
    } catch (error) {
      this.failed('SET', error);
    }
  }

  async setMany(entries: [string, unknown][]): Promise<void> {
    if (!this.enabled || entries.length === 0) return;
    try {
      const pipeline = this.redis.pipeline();
      for (const [key, value] of entries) pipeline.set(key, JSON.stringify(value), 'EX', this.ttl);
      await pipeline.exec();
    } catch (error) {
      this.failed('SET', error);
    }
  }

  /** A list page: a field of one hash, so that one DEL drops every page. */
  async getPage<T>(field: string): Promise<T | undefined> {
    if (!this.enabled) return undefined;
    try {
      const text = await this.redis.hget(this.ordersKey, field);
      return text === null ? undefined : (JSON.parse(text) as T);
    } catch (error) {
      this.failed('HGET', error);
      return undefined;
    }
  }

  async setPage(field: string, value: unknown): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.redis.multi().hset(this.ordersKey, field, JSON.stringify(value)).expire(this.ordersKey, this.ttl, 'NX').exec();
    } catch (error) {
      this.failed('HSET', error);
    }
  }

  /** Invalidation after a write; also with the cache off here, for the gateways sharing it. */
  async del(...keys: string[]): Promise<void> {
    try {
      await this.redis.del(...keys);
    } catch (error) {
      this.failed('DEL', error);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }

  private failed(command: string, error: unknown): void {
    this.logger.warn(`Redis ${command} failed, bypassing the cache: ${(error as Error).message}`);
  }
}
