import { Module } from '@nestjs/common';
import { ClientsModule } from '@nestjs/microservices';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseOptions } from '../common/database';
import { ORDERS_CLIENT, ORDERS_QUEUE, rmqOptions } from '../common/rpc';
import { PasswordService } from './password.service';
import { User } from './user.entity';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/** The users service: `node dist/main.js users`. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({ useFactory: () => databaseOptions('USERS_DATABASE_URL', [User]) }),
    TypeOrmModule.forFeature([User]),
    // To tell the orders service that a user is gone (`user.deleted`).
    ClientsModule.registerAsync([{ name: ORDERS_CLIENT, useFactory: () => rmqOptions(ORDERS_QUEUE) }]),
  ],
  controllers: [UsersController],
  providers: [UsersService, PasswordService],
})
export class UsersModule {}
