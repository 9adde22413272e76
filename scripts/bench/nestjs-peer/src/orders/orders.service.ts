import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { firstValueFrom, timeout } from 'rxjs';
import { DataSource, Repository } from 'typeorm';
import { intEnv } from '../common/config';
import { invalid, orderNotFound } from '../common/errors';
import { centsOf, formatCents } from '../common/money';
import {
  CreateOrderRequest,
  DeleteOrderRequest,
  ListOrdersRequest,
  OrderDto,
  OrderPageDto,
  UpdateOrderRequest,
  USERS_CLIENT,
  UserDto,
  UsersPatterns,
} from '../common/rpc';
import { isUuid } from '../common/uuid';
import { Order, rawToOrderDto, toOrderDto } from './order.entity';
import { itemDescription, itemPriceCents, itemQuantity } from './validation';

@Injectable()
export class OrdersService implements OnApplicationBootstrap {
  private readonly rpcTimeoutMs = intEnv('RPC_TIMEOUT_MS', 5000);

  constructor(
    @InjectRepository(Order) private readonly orders: Repository<Order>,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(USERS_CLIENT) private readonly users: ClientProxy,
  ) {}

  /** Connects to the users service before the first createOrder needs it. */
  async onApplicationBootstrap(): Promise<void> {
    await this.users.connect();
  }

  async ping(): Promise<boolean> {
    await this.orders.query('SELECT 1');
    return true;
  }

  async findById(id: string): Promise<OrderDto | null> {
    if (!isUuid(id)) {
      return null;
    }
    const order = await this.orders.findOneBy({ id });
    return order && toOrderDto(order);
  }

  /** Oldest first (created_at, then id); `after` is the id of the last order of the page before. */
  async list({ first, after, userId }: ListOrdersRequest): Promise<OrderPageDto> {
    const query = this.orders
      .createQueryBuilder('o')
      .orderBy('o.createdAt', 'ASC')
      .addOrderBy('o.id', 'ASC')
      .limit(first + 1);
    if (userId !== undefined) {
      if (!isUuid(userId)) return { nodes: [], hasNextPage: false };
      query.andWhere('o.userId = :userId', { userId });
    }
    if (after !== undefined) {
      if (!isUuid(after)) throw invalid('after', 'after is not a cursor of this list');
      query.andWhere('(o.createdAt, o.id) > (SELECT created_at, id FROM orders WHERE id = :after)', { after });
    }
    const rows = await query.getMany();
    return { nodes: rows.slice(0, first).map(toOrderDto), hasNextPage: rows.length > first };
  }

  /** Places an order for a user the users service knows; the total is computed here, exactly. */
  async create(input: CreateOrderRequest): Promise<OrderDto> {
    const description = itemDescription(input.itemDescription);
    const quantity = itemQuantity(input.itemQuantity);
    const priceCents = itemPriceCents(input.itemPrice);
    if (!isUuid(input.userId)) {
      throw invalid('userId', 'no user with this id');
    }
    const user = await firstValueFrom(
      this.users.send<UserDto | null>(UsersPatterns.get, { id: input.userId }).pipe(timeout(this.rpcTimeoutMs)),
    );
    if (!user) {
      throw invalid('userId', 'no user with this id');
    }
    const order = await this.dataSource.transaction((manager) =>
      manager.save(
        manager.create(Order, {
          userId: input.userId,
          itemDescription: description,
          itemQuantity: quantity,
          itemPrice: formatCents(priceCents),
          totalValue: formatCents(priceCents * BigInt(quantity)),
        }),
      ),
    );
    return toOrderDto(order);
  }

  /** Changes the given fields and computes the total again, under the row's lock. */
  async update({ id, input, ownerId }: UpdateOrderRequest): Promise<OrderDto> {
    const description = input?.itemDescription == null ? undefined : itemDescription(input.itemDescription);
    const quantity = input?.itemQuantity == null ? undefined : itemQuantity(input.itemQuantity);
    const priceCents = input?.itemPrice == null ? undefined : itemPriceCents(input.itemPrice);
    if (!isUuid(id)) {
      throw orderNotFound();
    }
    return this.dataSource.transaction(async (manager) => {
      const current = await manager.findOne(Order, {
        where: ownerId === undefined ? { id } : { id, userId: ownerId },
        lock: { mode: 'pessimistic_write' },
      });
      if (!current) {
        throw orderNotFound();
      }
      const newQuantity = quantity ?? current.itemQuantity;
      const newPriceCents = priceCents ?? centsOf(current.itemPrice);
      const result = await manager
        .createQueryBuilder()
        .update(Order)
        .set({
          itemDescription: description ?? current.itemDescription,
          itemQuantity: newQuantity,
          itemPrice: formatCents(newPriceCents),
          totalValue: formatCents(newPriceCents * BigInt(newQuantity)),
        })
        .where('id = :id', { id })
        .returning('*')
        .execute();
      return rawToOrderDto((result.raw as Record<string, unknown>[])[0]);
    });
  }

  async delete({ id, ownerId }: DeleteOrderRequest): Promise<boolean> {
    if (!isUuid(id)) {
      throw orderNotFound();
    }
    const result = await this.orders.delete(ownerId === undefined ? { id } : { id, userId: ownerId });
    if (!result.affected) {
      throw orderNotFound();
    }
    return true;
  }

  /** The cascade of a user's deletion. */
  async deleteOfUser(userId: string): Promise<void> {
    if (isUuid(userId)) {
      await this.orders.delete({ userId });
    }
  }
}
