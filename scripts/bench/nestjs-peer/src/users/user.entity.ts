import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { UserDto } from '../common/rpc';

/**
 * The users table. The unique indexes are named after their columns: a unique violation names
 * its index, which tells the field at fault (CONFLICT on nickName, cpf or email).
 */
@Entity('users')
export class User {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'nick_name', type: 'varchar', length: 32 })
  nickName: string;

  /** nickName lower-cased: what uniqueness and logins compare (nickName is unique ignoring case). */
  @Index('idx_users_nick_name_key', { unique: true })
  @Column({ name: 'nick_name_key', type: 'varchar', length: 32 })
  nickNameKey: string;

  @Column({ name: 'full_name', type: 'varchar', length: 120 })
  fullName: string;

  @Index('idx_users_email', { unique: true })
  @Column({ type: 'varchar', length: 254 })
  email: string;

  @Index('idx_users_cpf', { unique: true })
  @Column({ type: 'varchar', length: 11 })
  cpf: string;

  @Column({ name: 'phone_number', type: 'varchar', length: 16 })
  phoneNumber: string;

  /** argon2id PHC string; never selected unless asked for (login). */
  @Column({ name: 'password_hash', type: 'text', select: false })
  passwordHash: string;

  @Column({ name: 'is_admin', type: 'boolean', default: false })
  isAdmin: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

export function toUserDto(user: User): UserDto {
  return {
    id: user.id,
    nickName: user.nickName,
    fullName: user.fullName,
    cpf: user.cpf,
    email: user.email,
    phoneNumber: user.phoneNumber,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

/** A row of `UPDATE ... RETURNING *` (column names, driver values). */
export function rawToUserDto(row: Record<string, unknown>): UserDto {
  return {
    id: row.id as string,
    nickName: row.nick_name as string,
    fullName: row.full_name as string,
    cpf: row.cpf as string,
    email: row.email as string,
    phoneNumber: row.phone_number as string,
    createdAt: (row.created_at as Date).toISOString(),
    updatedAt: (row.updated_at as Date).toISOString(),
  };
}
