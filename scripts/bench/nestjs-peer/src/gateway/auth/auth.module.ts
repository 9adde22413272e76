import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { createSecretKey, KeyObject } from 'node:crypto';
import { requiredEnv } from '../../common/config';
import { ServicesModule } from '../services.module';
import { AuthService } from './auth.service';
import { CallersService } from './callers.service';

/**
 * AUTH_SECRET as a KeyObject, made once. Given a string, jsonwebtoken first tries it as a PEM
 * public key on every verify, fails, and only then makes a secret key of it: that failed parse
 * was a quarter of the gateway's CPU on a cached user(id).
 */
function authSecret(): KeyObject {
  const secret = Buffer.from(requiredEnv('AUTH_SECRET'));
  if (secret.length < 32) {
    throw new Error('AUTH_SECRET must be at least 32 bytes (e.g. `openssl rand -base64 48`)');
  }
  return createSecretKey(secret);
}

@Module({
  imports: [
    ServicesModule,
    JwtModule.registerAsync({
      useFactory: () => ({
        secret: authSecret(),
        signOptions: { algorithm: 'HS256' },
        verifyOptions: { algorithms: ['HS256'] },
      }),
    }),
  ],
  providers: [AuthService, CallersService],
  exports: [AuthService, JwtModule],
})
export class AuthModule {}
