import { Field, InputType, Int, ObjectType } from '@nestjs/graphql';
import { DateTime, Decimal, UUID } from './scalars';

@ObjectType('User')
export class UserModel {
  @Field(() => UUID) id: string;
  @Field() nickName: string;
  @Field() fullName: string;
  @Field({ description: '11 digits, no punctuation.' }) cpf: string;
  @Field({ description: 'Lower case.' }) email: string;
  @Field({ description: 'Separators removed, leading + kept.' }) phoneNumber: string;
  @Field(() => DateTime) createdAt: string;
  @Field(() => DateTime) updatedAt: string;
}

@ObjectType('Order')
export class OrderModel {
  @Field(() => UUID) id: string;
  @Field(() => UUID) userId: string;
  @Field() itemDescription: string;
  @Field(() => Int) itemQuantity: number;
  @Field(() => Decimal) itemPrice: string;
  @Field(() => Decimal, { description: 'itemQuantity × itemPrice, computed by the orders service, exact.' })
  totalValue: string;
  @Field(() => DateTime) createdAt: string;
  @Field(() => DateTime) updatedAt: string;
  // `user` is a field resolver: OrdersResolver.user (batched).
}

@ObjectType('PageInfo')
export class PageInfo {
  @Field() hasPreviousPage: boolean;
  @Field() hasNextPage: boolean;
  @Field(() => String, { nullable: true }) startCursor: string | null;
  @Field(() => String, { nullable: true }) endCursor: string | null;
}

@ObjectType('OrderEdge')
export class OrderEdge {
  @Field() cursor: string;
  @Field(() => OrderModel) node: OrderModel;
}

@ObjectType('OrderConnection')
export class OrderConnection {
  @Field(() => [OrderModel]) nodes: OrderModel[];
  @Field(() => [OrderEdge]) edges: OrderEdge[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

@ObjectType('AuthPayload', { description: 'A new token, for `Authorization: Bearer <token>`, and who it signs in.' })
export class AuthPayload {
  @Field() token: string;
  @Field(() => DateTime) expiresAt: string;
  @Field(() => UserModel) user: UserModel;
}

@InputType()
export class CreateUserInput {
  @Field() nickName: string;
  @Field() fullName: string;
  @Field() password: string;
  @Field() cpf: string;
  @Field() email: string;
  @Field() phoneNumber: string;
}

@InputType()
export class UpdateUserInput {
  @Field(() => String, { nullable: true }) nickName?: string | null;
  @Field(() => String, { nullable: true }) fullName?: string | null;
  @Field(() => String, { nullable: true }) cpf?: string | null;
  @Field(() => String, { nullable: true }) email?: string | null;
  @Field(() => String, { nullable: true }) phoneNumber?: string | null;
}

@InputType()
export class CreateOrderInput {
  @Field(() => UUID) userId: string;
  @Field() itemDescription: string;
  @Field(() => Int) itemQuantity: number;
  @Field(() => Decimal) itemPrice: string;
}

@InputType()
export class UpdateOrderInput {
  @Field(() => String, { nullable: true }) itemDescription?: string | null;
  @Field(() => Int, { nullable: true }) itemQuantity?: number | null;
  @Field(() => Decimal, { nullable: true }) itemPrice?: string | null;
}
