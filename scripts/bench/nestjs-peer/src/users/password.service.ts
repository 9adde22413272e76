import { Injectable, OnModuleInit } from '@nestjs/common';
import * as argon2 from 'argon2';

/**
 * argon2id with ours' parameters (m = 19456 KiB, t = 2, p = 1: RFC 9106 / OWASP's minimum),
 * stored as a PHC string. The argon2 package hashes on libuv's thread pool.
 */
@Injectable()
export class PasswordService implements OnModuleInit {
  private static readonly OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

  /** Verified against for an unknown login, so that it costs what a wrong password does. */
  private dummyHash: string;

  async onModuleInit(): Promise<void> {
    this.dummyHash = await this.hash('a password nobody has');
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, PasswordService.OPTIONS);
  }

  async verify(hash: string | undefined, password: string): Promise<boolean> {
    const matches = await argon2.verify(hash ?? this.dummyHash, password);
    return hash !== undefined && matches;
  }
}
