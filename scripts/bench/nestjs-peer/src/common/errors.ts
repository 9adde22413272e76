/**
 * Errors that cross the wire: the services throw them as RpcException payloads, the gateway
 * turns them into GraphQL errors with the same `extensions.code` (and `field`) ours uses.
 */

import { RpcException } from '@nestjs/microservices';

export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

export interface RpcErrorPayload {
  code: ErrorCode;
  message: string;
  field?: string;
}

export function rpcError(code: ErrorCode, message: string, field?: string): RpcException {
  const payload: RpcErrorPayload = field === undefined ? { code, message } : { code, message, field };
  return new RpcException(payload);
}

export const invalid = (field: string, message: string) => rpcError('BAD_USER_INPUT', message, field);
/** Ours' wording: "no user has the id <id>", "no order with this id". */
export const userNotFound = (id: string) => rpcError('NOT_FOUND', `no user has the id ${id}`);
export const orderNotFound = () => rpcError('NOT_FOUND', 'no order with this id');

export function isRpcErrorPayload(value: unknown): value is RpcErrorPayload {
  return typeof value === 'object' && value !== null && typeof (value as RpcErrorPayload).code === 'string'
    && typeof (value as RpcErrorPayload).message === 'string';
}

/** PostgreSQL's unique_violation, from TypeORM's QueryFailedError. */
export function uniqueViolation(error: unknown): string | undefined {
  const driverError = (error as { driverError?: { code?: string; constraint?: string } }).driverError;
  return driverError?.code === '23505' ? (driverError.constraint ?? '') : undefined;
}
