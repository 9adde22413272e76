import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { GraphQLError } from 'graphql';
import { AuthenticatedRequest, Caller } from './caller';
import { CallersService } from './callers.service';

interface Claims {
  sub: string;
}

const unauthenticated = (message: string) => new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED' } });

/**
 * Who a request is for: an HS256 JWT signed with AUTH_SECRET and not expired, whose user still
 * exists (CallersService). Checked once per request that carries a token, as ours checks it,
 * whether or not a field needs it; AuthGuard makes the fields that do wait for it.
 */
@Injectable()
export class AuthService {
  constructor(
    private readonly jwt: JwtService,
    private readonly callers: CallersService,
  ) {}

  /** Starts the check of the request's token, if it has one (from the GraphQL context). */
  begin(request: AuthenticatedRequest): void {
    if (request.headers.authorization !== undefined && request.authentication === undefined) {
      request.authentication = this.authenticate(request);
      // Awaited by the guard of each field that needs a caller; refused quietly otherwise.
      request.authentication.catch(() => undefined);
    }
  }

  /** The caller, or UNAUTHENTICATED. */
  caller(request: AuthenticatedRequest): Promise<Caller> {
    request.authentication ??= this.authenticate(request);
    return request.authentication;
  }

  private async authenticate(request: AuthenticatedRequest): Promise<Caller> {
    const [scheme, token] = request.headers.authorization?.trim().split(/\s+/) ?? [];
    if (scheme?.toLowerCase() !== 'bearer' || !token) {
      throw unauthenticated('sign in first: send Authorization: Bearer <token>');
    }
    let claims: Claims;
    try {
      claims = await this.jwt.verifyAsync<Claims>(token);
    } catch (error) {
      throw unauthenticated(
        (error as Error).name === 'TokenExpiredError' ? 'the token has expired: sign in again' : 'the token is not valid: sign in again',
      );
    }
    const caller = await this.callers.resolve(claims.sub);
    if (!caller) {
      throw unauthenticated('the token is not valid: sign in again');
    }
    return caller;
  }
}
