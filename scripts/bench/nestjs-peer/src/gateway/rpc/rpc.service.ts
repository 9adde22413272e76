import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { GraphQLError } from 'graphql';
import { firstValueFrom, timeout, TimeoutError } from 'rxjs';
import { intEnv } from '../../common/config';
import { isRpcErrorPayload } from '../../common/errors';
import { ORDERS_CLIENT, OrdersPatterns, USERS_CLIENT, UsersPatterns } from '../../common/rpc';

type Service = 'users' | 'orders';

/**
 * Request/response over RabbitMQ (`ClientProxy.send`, replies on direct reply-to), bounded by
 * RPC_TIMEOUT_MS; the services' errors become GraphQL errors with the same codes.
 */
@Injectable()
export class RpcService implements OnApplicationBootstrap {
  private readonly logger = new Logger(RpcService.name);
  private readonly timeoutMs = intEnv('RPC_TIMEOUT_MS', 5000);

  constructor(
    @Inject(USERS_CLIENT) private readonly usersClient: ClientProxy,
    @Inject(ORDERS_CLIENT) private readonly ordersClient: ClientProxy,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await Promise.all([this.usersClient.connect(), this.ordersClient.connect()]);
  }

  users<T>(pattern: string, data: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    return this.call('users', this.usersClient, pattern, data, timeoutMs);
  }

  orders<T>(pattern: string, data: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    return this.call('orders', this.ordersClient, pattern, data, timeoutMs);
  }

  /** Both services answer a ping that reaches their database. */
  async ready(timeoutMs: number): Promise<boolean> {
    try {
      await Promise.all([
        this.users<boolean>(UsersPatterns.ping, {}, timeoutMs),
        this.orders<boolean>(OrdersPatterns.ping, {}, timeoutMs),
      ]);
      return true;
    } catch {
      return false;
    }
  }

  private async call<T>(service: Service, client: ClientProxy, pattern: string, data: unknown, timeoutMs: number): Promise<T> {
    try {
      return await firstValueFrom(client.send<T>(pattern, data).pipe(timeout(timeoutMs)));
    } catch (error) {
      throw this.toGraphQLError(service, error);
    }
  }

  private toGraphQLError(service: Service, error: unknown): GraphQLError {
    if (error instanceof TimeoutError) {
      return new GraphQLError(`the ${service} service did not answer in time`, {
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
    }
    if (isRpcErrorPayload(error)) {
      const extensions = error.field === undefined ? { code: error.code } : { code: error.code, field: error.field };
      return new GraphQLError(error.message, { extensions });
    }
    this.logger.error(`${service} RPC failed: ${JSON.stringify(error)}`);
    return new GraphQLError('internal error', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  }
}
