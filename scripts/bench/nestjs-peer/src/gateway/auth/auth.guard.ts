import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { AuthService } from './auth.service';
import { AuthenticatedRequest } from './caller';
import { IS_PUBLIC } from './public.decorator';

/**
 * The global guard: every field but the @Public() ones (createUser, login) needs
 * `Authorization: Bearer <token>`. It sets the caller that @CurrentCaller() reads.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) {
      return true;
    }
    const request =
      context.getType<string>() === 'graphql'
        ? GqlExecutionContext.create(context).getContext<{ req: AuthenticatedRequest }>().req
        : context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.caller = await this.auth.caller(request);
    return true;
  }
}
