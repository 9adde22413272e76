import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { OrderDto } from '../common/rpc';

/** The orders table: money as numeric, read back as text ("59.70"), never a float. */
@Entity('orders')
@Index('idx_orders_created_at_id', ['createdAt', 'id'])
@Index('idx_orders_user_id_created_at_id', ['userId', 'createdAt', 'id'])
export class Order {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ name: 'item_description', type: 'text' })
  itemDescription: string;

  @Column({ name: 'item_quantity', type: 'int' })
  itemQuantity: number;

  @Column({ name: 'item_price', type: 'numeric', precision: 12, scale: 2 })
  itemPrice: string;

  /** Up to 1,000,000 × 1,000,000,000.00: 16 digits before the point. */
  @Column({ name: 'total_value', type: 'numeric', precision: 18, scale: 2 })
  totalValue: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

export function toOrderDto(order: Order): OrderDto {
  return {
    id: order.id,
    userId: order.userId,
    itemDescription: order.itemDescription,
    itemQuantity: order.itemQuantity,
    itemPrice: order.itemPrice,
    totalValue: order.totalValue,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

/** A row of `UPDATE ... RETURNING *` (column names, driver values). */
export function rawToOrderDto(row: Record<string, unknown>): OrderDto {
  return {
    id: row.id as string,
    userId: row.user_id as string,
    itemDescription: row.item_description as string,
    itemQuantity: row.item_quantity as number,
    itemPrice: row.item_price as string,
    totalValue: row.total_value as string,
    createdAt: (row.created_at as Date).toISOString(),
    updatedAt: (row.updated_at as Date).toISOString(),
  };
}
