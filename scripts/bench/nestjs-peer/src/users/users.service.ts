import { Inject, Injectable } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { invalid, rpcError, uniqueViolation, userNotFound } from '../common/errors';
import {
  CallerDto,
  CreateUserRequest,
  Events,
  LoginRequest,
  ORDERS_CLIENT,
  UpdateUserRequest,
  UserDto,
} from '../common/rpc';
import { isUuid } from '../common/uuid';
import { PasswordService } from './password.service';
import { rawToUserDto, toUserDto, User } from './user.entity';
import { newUser, userChanges } from './validation';

/** Unique index → the input field it guards. */
const CONFLICT_FIELDS: Record<string, string> = {
  idx_users_nick_name_key: 'nickName',
  idx_users_email: 'email',
  idx_users_cpf: 'cpf',
};

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly passwords: PasswordService,
    @Inject(ORDERS_CLIENT) private readonly orders: ClientProxy,
  ) {}

  /** Readiness: the database answers. */
  async ping(): Promise<boolean> {
    await this.users.query('SELECT 1');
    return true;
  }

  async findById(id: string): Promise<UserDto | null> {
    if (!isUuid(id)) {
      return null;
    }
    const user = await this.users.findOneBy({ id });
    return user && toUserDto(user);
  }

  async findByIds(ids: string[]): Promise<UserDto[]> {
    const valid = [...new Set(ids.filter(isUuid))];
    if (valid.length === 0) {
      return [];
    }
    const users = await this.users.findBy({ id: In(valid) });
    return users.map(toUserDto);
  }

  /** Who a token's subject is now: gone (null), a user or an admin. */
  async caller(id: string): Promise<CallerDto | null> {
    if (!isUuid(id)) {
      return null;
    }
    const user = await this.users.findOne({ where: { id }, select: { id: true, isAdmin: true } });
    return user && { id: user.id, admin: user.isAdmin };
  }

  async create(input: CreateUserRequest): Promise<UserDto> {
    const { password, ...fields } = newUser(input);
    const passwordHash = await this.passwords.hash(password);
    try {
      const user = await this.users.save(this.users.create({ ...fields, passwordHash }));
      return toUserDto(user);
    } catch (error) {
      throw this.conflictOr(error);
    }
  }

  async update({ id, input }: UpdateUserRequest): Promise<UserDto> {
    const changes = userChanges(input ?? {});
    if (!isUuid(id)) {
      throw userNotFound(id);
    }
    if (Object.keys(changes).length === 0) {
      const user = await this.findById(id);
      if (!user) throw userNotFound(id);
      return user;
    }
    try {
      const result = await this.users
        .createQueryBuilder()
        .update(User)
        .set(changes)
        .where('id = :id', { id })
        .returning('*')
        .execute();
      const row = (result.raw as Record<string, unknown>[])[0];
      if (!row) {
        throw userNotFound(id);
      }
      return rawToUserDto(row);
    } catch (error) {
      throw this.conflictOr(error);
    }
  }

  /** Deletes the user; the orders service deletes their orders when it hears `user.deleted`. */
  async delete(id: string): Promise<boolean> {
    if (!isUuid(id)) {
      throw userNotFound(id);
    }
    const result = await this.users.delete({ id });
    if (!result.affected) {
      throw userNotFound(id);
    }
    this.orders.emit(Events.userDeleted, { id });
    return true;
  }

  /** A nickName (ignoring case) or an email, and the password. */
  async login({ login, password }: LoginRequest): Promise<UserDto> {
    const key = typeof login === 'string' ? login.trim().toLowerCase() : '';
    const user = await this.users
      .createQueryBuilder('user')
      .addSelect('user.passwordHash')
      .where('user.nickNameKey = :key OR user.email = :key', { key })
      .getOne();
    const matches = await this.passwords.verify(user?.passwordHash, typeof password === 'string' ? password : '');
    if (!user || !matches) {
      throw rpcError('UNAUTHENTICATED', 'invalid login or password');
    }
    return toUserDto(user);
  }

  private conflictOr(error: unknown): unknown {
    const constraint = uniqueViolation(error);
    if (constraint === undefined) {
      return error;
    }
    const field = CONFLICT_FIELDS[constraint];
    return field ? rpcError('CONFLICT', `${field} is taken`, field) : invalid('input', 'a unique value is taken');
  }
}
