import 'reflect-metadata';
import { LogLevel, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { NestExpressApplication } from '@nestjs/platform-express';
import { listenAddress } from './common/config';
import { ORDERS_QUEUE, rmqOptions, rpcPrefetch, USERS_QUEUE } from './common/rpc';
import { GatewayModule } from './gateway/gateway.module';
import { OrdersModule } from './orders/orders.module';
import { grantAdmin } from './users/grant-admin';
import { UsersModule } from './users/users.module';

/** Start-up and errors only: nothing per request. */
const logger: LogLevel[] = ['fatal', 'error', 'warn', 'log'];

async function gateway(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule, { logger });
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  const { host, port } = listenAddress(process.env.LISTEN_ADDR || '127.0.0.1:8000');
  await app.listen(port, host);
}

async function service(module: Type<unknown>, queue: string): Promise<void> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(module, {
    ...rmqOptions(queue, rpcPrefetch()),
    logger,
  });
  app.enableShutdownHooks();
  await app.listen();
}

async function main(): Promise<void> {
  const [role, argument] = process.argv.slice(2);
  switch (role) {
    case 'gateway':
      return gateway();
    case 'users':
      return service(UsersModule, USERS_QUEUE);
    case 'orders':
      return service(OrdersModule, ORDERS_QUEUE);
    case 'grant-admin':
      process.exitCode = await grantAdmin(argument);
      return;
    default:
      console.error('usage: node dist/main.js gateway | users | orders | grant-admin <nickName>');
      process.exitCode = 2;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
