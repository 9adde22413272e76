import { Injectable } from '@nestjs/common';
import DataLoader from 'dataloader';
import { UserDto } from '../../common/rpc';
import { UsersClient } from '../rpc/users.client';

/** The DataLoaders of one request (made by the GraphQL context, never shared). */
export interface Loaders {
  /** Order.user: the users of a response in one cache MGET and at most one users RPC. */
  users: DataLoader<string, UserDto | null>;
}

@Injectable()
export class LoadersFactory {
  constructor(private readonly users: UsersClient) {}

  create(): Loaders {
    return {
      users: new DataLoader((ids) => this.users.findByIds(ids)),
    };
  }
}
