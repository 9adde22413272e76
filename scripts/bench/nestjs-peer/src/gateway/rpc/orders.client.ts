import { Injectable } from '@nestjs/common';
import {
  CreateOrderRequest,
  ListOrdersRequest,
  OrderDto,
  OrderPageDto,
  OrdersPatterns,
  UpdateOrderRequest,
} from '../../common/rpc';
import { CacheService } from '../cache/cache.service';
import { RpcService } from './rpc.service';

/** The orders service as the gateway sees it: reads through the cache, writes invalidate it. */
@Injectable()
export class OrdersClient {
  constructor(
    private readonly rpc: RpcService,
    private readonly cache: CacheService,
  ) {}

  async findById(id: string): Promise<OrderDto | null> {
    const key = this.cache.orderKey(id);
    const cached = await this.cache.get<OrderDto>(key);
    if (cached) return cached;
    const order = await this.rpc.orders<OrderDto | null>(OrdersPatterns.get, { id });
    if (order) await this.cache.set(key, order);
    return order;
  }

  async list(request: ListOrdersRequest): Promise<OrderPageDto> {
    const field = `${request.first}:${request.after ?? ''}:${request.userId ?? ''}`;
    const cached = await this.cache.getPage<OrderPageDto>(field);
    if (cached) return cached;
    const page = await this.rpc.orders<OrderPageDto>(OrdersPatterns.list, request);
    await this.cache.setPage(field, page);
    return page;
  }

  async create(input: CreateOrderRequest): Promise<OrderDto> {
    const order = await this.rpc.orders<OrderDto>(OrdersPatterns.create, input);
    await this.cache.del(this.cache.ordersKey);
    return order;
  }

  async update(request: UpdateOrderRequest): Promise<OrderDto> {
    const order = await this.rpc.orders<OrderDto>(OrdersPatterns.update, request);
    await this.cache.del(this.cache.orderKey(request.id), this.cache.ordersKey);
    return order;
  }

  async delete(id: string, ownerId: string | undefined): Promise<boolean> {
    const deleted = await this.rpc.orders<boolean>(OrdersPatterns.delete, { id, ownerId });
    await this.cache.del(this.cache.orderKey(id), this.cache.ordersKey);
    return deleted;
  }
}
