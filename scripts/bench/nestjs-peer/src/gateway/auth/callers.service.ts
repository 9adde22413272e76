import { Injectable } from '@nestjs/common';
import { intEnv } from '../../common/config';
import { UsersClient } from '../rpc/users.client';
import { Caller } from './caller';

/** How many callers a gateway remembers; past it, the oldest are asked again. */
const CAPACITY = 100_000;

/**
 * Who a token's subject is now (still there? an admin?), asked of the users service and kept
 * for SESSION_CHECK_SECONDS (30), as ours keeps what the users service said of a session.
 */
@Injectable()
export class CallersService {
  private readonly maxAgeMs = intEnv('SESSION_CHECK_SECONDS', 30) * 1000;
  private readonly kept = new Map<string, { caller: Caller | null; until: number }>();

  constructor(private readonly users: UsersClient) {}

  async resolve(userId: string): Promise<Caller | null> {
    const now = Date.now();
    const kept = this.kept.get(userId);
    if (kept && kept.until > now) {
      return kept.caller;
    }
    const caller = await this.users.caller(userId);
    this.kept.delete(userId);
    if (this.kept.size >= CAPACITY) {
      this.kept.delete(this.kept.keys().next().value as string);
    }
    this.kept.set(userId, { caller, until: now + this.maxAgeMs });
    return caller;
  }
}
