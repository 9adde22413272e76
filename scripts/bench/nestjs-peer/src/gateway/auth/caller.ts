import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { GqlExecutionContext } from '@nestjs/graphql';
import { Request } from 'express';

/** Who sent the request: set by AuthGuard. */
export interface Caller {
  id: string;
  admin: boolean;
}

export interface AuthenticatedRequest extends Request {
  /** The token's check: once per request, whatever the number of fields guarded. */
  authentication?: Promise<Caller>;
  /** Its outcome, for the resolvers (@CurrentCaller()). */
  caller?: Caller;
}

export function mayTouch(caller: Caller, userId: string): boolean {
  return caller.admin || caller.id === userId;
}

export const CurrentCaller = createParamDecorator((_: unknown, context: ExecutionContext): Caller | undefined => {
  const request = GqlExecutionContext.create(context).getContext<{ req: AuthenticatedRequest }>().req;
  return request.caller;
});
