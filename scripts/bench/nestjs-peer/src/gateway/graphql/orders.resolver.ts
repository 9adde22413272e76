import { Args, Context, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import { OrderDto, UserDto } from '../../common/rpc';
import { isUuid } from '../../common/uuid';
import { Caller, CurrentCaller, mayTouch } from '../auth/caller';
import { OrdersClient } from '../rpc/orders.client';
import { Loaders } from './loaders';
import { CreateOrderInput, OrderConnection, OrderModel, UpdateOrderInput, UserModel } from './models';
import { UUID } from './scalars';

const badInput = (field: string, message: string) =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', field } });

/** Cursors are opaque: the order's id, base64url. */
const cursorOf = (order: OrderDto) => Buffer.from(order.id).toString('base64url');

function afterOf(cursor: string | undefined | null): string | undefined {
  if (cursor == null) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!isUuid(id)) throw badInput('after', 'after is not a cursor of this list');
  return id;
}

@Resolver(() => OrderModel)
export class OrdersResolver {
  constructor(private readonly ordersClient: OrdersClient) {}

  @Query(() => OrderConnection, { nullable: true, description: 'Orders, oldest first; `userId` keeps one user\'s.' })
  async orders(
    @CurrentCaller() caller: Caller,
    @Args('first', { type: () => Int, nullable: true, defaultValue: 20 }) first: number,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Args('userId', { type: () => UUID, nullable: true }) userId: string | null,
  ): Promise<OrderConnection> {
    if (first == null || first < 0 || first > 100) throw badInput('first', 'first must be between 0 and 100');
    const afterId = afterOf(after);
    // A user lists only their own orders (someone else's list reads empty).
    const owner = caller.admin ? (userId ?? undefined) : caller.id;
    const page =
      !caller.admin && userId != null && userId !== caller.id
        ? { nodes: [], hasNextPage: false }
        : await this.ordersClient.list({ first, after: afterId, userId: owner });
    const edges = page.nodes.map((node) => ({ cursor: cursorOf(node), node }));
    return {
      nodes: page.nodes,
      edges,
      pageInfo: {
        hasPreviousPage: afterId !== undefined,
        hasNextPage: page.hasNextPage,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges[edges.length - 1]?.cursor ?? null,
      },
    };
  }

  @Query(() => OrderModel, { nullable: true, description: 'The order with this id; null when there is none.' })
  async order(@CurrentCaller() caller: Caller, @Args('id', { type: () => UUID }) id: string): Promise<OrderDto | null> {
    const order = await this.ordersClient.findById(id);
    return order && mayTouch(caller, order.userId) ? order : null;
  }

  @ResolveField('user', () => UserModel, { nullable: true, description: 'Who placed it; batched with the other orders of the response.' })
  user(@Parent() order: OrderDto, @Context('loaders') loaders: Loaders): Promise<UserDto | null> {
    return loaders.users.load(order.userId);
  }

  @Mutation(() => OrderModel, { description: 'Places an order for an existing user (BAD_USER_INPUT on userId otherwise).' })
  createOrder(@CurrentCaller() caller: Caller, @Args('input') input: CreateOrderInput): Promise<OrderDto> {
    // Someone else's user is refused as no user is: ids cannot be probed.
    if (!mayTouch(caller, input.userId)) throw badInput('userId', 'no user with this id');
    return this.ordersClient.create(input);
  }

  @Mutation(() => OrderModel, { description: 'Changes the given fields; the total is computed again.' })
  updateOrder(
    @CurrentCaller() caller: Caller,
    @Args('id', { type: () => UUID }) id: string,
    @Args('input') input: UpdateOrderInput,
  ): Promise<OrderDto> {
    return this.ordersClient.update({ id, input, ownerId: caller.admin ? undefined : caller.id });
  }

  @Mutation(() => Boolean)
  deleteOrder(@CurrentCaller() caller: Caller, @Args('id', { type: () => UUID }) id: string): Promise<boolean> {
    return this.ordersClient.delete(id, caller.admin ? undefined : caller.id);
  }
}
