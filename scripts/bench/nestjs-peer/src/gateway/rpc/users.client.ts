import { Injectable } from '@nestjs/common';
import { CallerDto, CreateUserRequest, LoginRequest, UpdateUserFields, UserDto, UsersPatterns } from '../../common/rpc';
import { CacheService } from '../cache/cache.service';
import { RpcService } from './rpc.service';

/** The users service as the gateway sees it: reads through the cache, writes invalidate it. */
@Injectable()
export class UsersClient {
  constructor(
    private readonly rpc: RpcService,
    private readonly cache: CacheService,
  ) {}

  async findById(id: string): Promise<UserDto | null> {
    const key = this.cache.userKey(id);
    const cached = await this.cache.get<UserDto>(key);
    if (cached) return cached;
    const user = await this.rpc.users<UserDto | null>(UsersPatterns.get, { id });
    if (user) await this.cache.set(key, user);
    return user;
  }

  /** For the DataLoader: one MGET, then one RPC for the misses. Answers in the order of `ids`. */
  async findByIds(ids: readonly string[]): Promise<(UserDto | null)[]> {
    const cached = await this.cache.getMany<UserDto>(ids.map((id) => this.cache.userKey(id)));
    const missing = ids.filter((_, index) => cached[index] === undefined);
    if (missing.length === 0) return cached as UserDto[];
    const found = await this.rpc.users<UserDto[]>(UsersPatterns.getMany, { ids: missing });
    const byId = new Map(found.map((user) => [user.id, user]));
    await this.cache.setMany(found.map((user) => [this.cache.userKey(user.id), user]));
    return ids.map((id, index) => cached[index] ?? byId.get(id) ?? null);
  }

  caller(id: string): Promise<CallerDto | null> {
    return this.rpc.users<CallerDto | null>(UsersPatterns.caller, { id });
  }

  create(input: CreateUserRequest): Promise<UserDto> {
    return this.rpc.users<UserDto>(UsersPatterns.create, input);
  }

  async update(id: string, input: UpdateUserFields): Promise<UserDto> {
    const user = await this.rpc.users<UserDto>(UsersPatterns.update, { id, input });
    await this.cache.del(this.cache.userKey(id));
    return user;
  }

  async delete(id: string): Promise<boolean> {
    const deleted = await this.rpc.users<boolean>(UsersPatterns.delete, { id });
    // Their orders go too (the orders service hears user.deleted).
    await this.cache.del(this.cache.userKey(id), this.cache.ordersKey);
    return deleted;
  }

  login(request: LoginRequest): Promise<UserDto> {
    return this.rpc.users<UserDto>(UsersPatterns.login, request);
  }
}
