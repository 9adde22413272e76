import { Controller, UseInterceptors } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { RmqAckInterceptor } from '../common/rmq-ack.interceptor';
import {
  CreateOrderRequest,
  DeleteOrderRequest,
  Events,
  ListOrdersRequest,
  OrdersPatterns,
  UpdateOrderRequest,
} from '../common/rpc';
import { OrdersService } from './orders.service';

@Controller()
@UseInterceptors(RmqAckInterceptor)
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @MessagePattern(OrdersPatterns.ping)
  ping() {
    return this.orders.ping();
  }

  @MessagePattern(OrdersPatterns.get)
  get(@Payload() { id }: { id: string }) {
    return this.orders.findById(id);
  }

  @MessagePattern(OrdersPatterns.list)
  list(@Payload() request: ListOrdersRequest) {
    return this.orders.list(request);
  }

  @MessagePattern(OrdersPatterns.create)
  create(@Payload() input: CreateOrderRequest) {
    return this.orders.create(input);
  }

  @MessagePattern(OrdersPatterns.update)
  update(@Payload() request: UpdateOrderRequest) {
    return this.orders.update(request);
  }

  @MessagePattern(OrdersPatterns.delete)
  delete(@Payload() request: DeleteOrderRequest) {
    return this.orders.delete(request);
  }

  @EventPattern(Events.userDeleted)
  userDeleted(@Payload() { id }: { id: string }) {
    return this.orders.deleteOfUser(id);
  }
}
