import { Module } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseOptions } from '../common/database';
import { rmqOptions, USERS_CLIENT, USERS_QUEUE } from '../common/rpc';
import { Order } from './order.entity';
import { OrdersController } from './orders.controller';
import { OrdersService } from './orders.service';

/** The orders service: `node dist/main.js orders`. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({ useFactory: () => databaseOptions('ORDERS_DATABASE_URL', [Order]) }),
    TypeOrmModule.forFeature([Order]),
    // createOrder asks the users service whether the user exists.
    ClientsModule.registerAsync([{ name: USERS_CLIENT, useFactory: () => rmqOptions(USERS_QUEUE) }]),
  ],
  controllers: [OrdersController],
  providers: [OrdersService],
})
export class OrdersModule {}
