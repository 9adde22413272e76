import { Args, Mutation, Resolver } from '@nestjs/graphql';
import { JwtService } from '@nestjs/jwt';
import { intEnv } from '../../common/config';
import { Public } from '../auth/public.decorator';
import { UsersClient } from '../rpc/users.client';
import { AuthPayload } from './models';

@Resolver(() => AuthPayload)
export class AuthResolver {
  private readonly ttlSeconds = intEnv('TOKEN_TTL_SECONDS', 3600);

  constructor(
    private readonly users: UsersClient,
    private readonly jwt: JwtService,
  ) {}

  @Public()
  @Mutation(() => AuthPayload, {
    description: 'Signs in with a nickName (ignoring case) or an email and the password.',
  })
  async login(@Args('login') login: string, @Args('password') password: string): Promise<AuthPayload> {
    const user = await this.users.login({ login, password });
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + this.ttlSeconds;
    const token = await this.jwt.signAsync({ sub: user.id, iat: issuedAt, exp: expiresAt });
    return { token, expiresAt: new Date(expiresAt * 1000).toISOString(), user };
  }
}
