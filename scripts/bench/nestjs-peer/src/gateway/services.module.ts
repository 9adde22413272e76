import { Module } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { ORDERS_CLIENT, ORDERS_QUEUE, rmqOptions, USERS_CLIENT, USERS_QUEUE } from '../common/rpc';
import { CacheService } from './cache/cache.service';
import { LoadersFactory } from './graphql/loaders';
import { OrdersClient } from './rpc/orders.client';
import { RpcService } from './rpc/rpc.service';
import { UsersClient } from './rpc/users.client';

/** The two services over RabbitMQ, and the cache in front of them. */
@Module({
  imports: [
    ClientsModule.registerAsync([
      { name: USERS_CLIENT, useFactory: () => rmqOptions(USERS_QUEUE) },
      { name: ORDERS_CLIENT, useFactory: () => rmqOptions(ORDERS_QUEUE) },
    ]),
  ],
  providers: [RpcService, CacheService, UsersClient, OrdersClient, LoadersFactory],
  exports: [RpcService, CacheService, UsersClient, OrdersClient, LoadersFactory],
})
export class ServicesModule {}
