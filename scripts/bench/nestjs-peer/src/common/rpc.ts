/**
 * The wire contract between the gateway and the services: queue names, message patterns and
 * the shapes sent over RabbitMQ (JSON; timestamps as RFC 3339 strings, money as decimal
 * strings).
 */

import { RmqOptions, Transport } from '@nestjs/microservices';
import { intEnv, requiredEnv } from './config';

export const USERS_QUEUE = 'peer.users';
export const ORDERS_QUEUE = 'peer.orders';

export const USERS_CLIENT = Symbol('USERS_CLIENT');
export const ORDERS_CLIENT = Symbol('ORDERS_CLIENT');

export const UsersPatterns = {
  ping: 'users.ping',
  get: 'users.get',
  getMany: 'users.get_many',
  caller: 'users.caller',
  create: 'users.create',
  update: 'users.update',
  delete: 'users.delete',
  login: 'users.login',
} as const;

export const OrdersPatterns = {
  ping: 'orders.ping',
  get: 'orders.get',
  list: 'orders.list',
  create: 'orders.create',
  update: 'orders.update',
  delete: 'orders.delete',
} as const;

/** Events (fire-and-forget, `emit`). */
export const Events = {
  userDeleted: 'user.deleted',
} as const;

/** RabbitMQ options of a request queue, the same for its server and its clients. */
export function rmqOptions(queue: string, prefetchCount?: number): RmqOptions {
  return {
    transport: Transport.RMQ,
    options: {
      urls: [requiredEnv('AMQP_URL')],
      queue,
      queueOptions: { durable: true },
      // TCP_NODELAY, as lapin sets it for ours: without it a request or an answer split over
      // several writes can wait for a delayed ACK (~40 ms).
      socketOptions: { connectionOptions: { noDelay: true } },
      // Servers ack after handling (RmqAckInterceptor), RPC_PREFETCH messages at a time.
      ...(prefetchCount === undefined ? {} : { noAck: false, prefetchCount }),
    },
  };
}

export function rpcPrefetch(): number {
  return intEnv('RPC_PREFETCH', 32) || 32;
}

/** What the services answer with; never a password hash. */
export interface UserDto {
  id: string;
  nickName: string;
  fullName: string;
  cpf: string;
  email: string;
  phoneNumber: string;
  createdAt: string;
  updatedAt: string;
}

export interface CallerDto {
  id: string;
  admin: boolean;
}

export interface OrderDto {
  id: string;
  userId: string;
  itemDescription: string;
  itemQuantity: number;
  /** Two places, e.g. "19.90". */
  itemPrice: string;
  totalValue: string;
  createdAt: string;
  updatedAt: string;
}

export interface OrderPageDto {
  nodes: OrderDto[];
  hasNextPage: boolean;
}

export interface CreateUserRequest {
  nickName: string;
  fullName: string;
  password: string;
  cpf: string;
  email: string;
  phoneNumber: string;
}

export type UpdateUserFields = { [K in Exclude<keyof CreateUserRequest, 'password'>]?: string | null };

export interface UpdateUserRequest {
  id: string;
  input: UpdateUserFields;
}

export interface LoginRequest {
  login: string;
  password: string;
}

export interface CreateOrderRequest {
  userId: string;
  itemDescription: string;
  itemQuantity: number;
  itemPrice: string;
}

export interface UpdateOrderRequest {
  id: string;
  input: { itemDescription?: string | null; itemQuantity?: number | null; itemPrice?: string | null };
  /** Set for a caller who is not an admin: only an order of this user may change. */
  ownerId?: string;
}

export interface DeleteOrderRequest {
  id: string;
  ownerId?: string;
}

export interface ListOrdersRequest {
  first: number;
  after?: string;
  userId?: string;
}
