import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import { UserDto } from '../../common/rpc';
import { Caller, CurrentCaller, mayTouch } from '../auth/caller';
import { Public } from '../auth/public.decorator';
import { UsersClient } from '../rpc/users.client';
import { CreateUserInput, UpdateUserInput, UserModel } from './models';
import { UUID } from './scalars';

// Another person's user is written as if it did not exist.
const notFound = (id: string) => new GraphQLError(`no user has the id ${id}`, { extensions: { code: 'NOT_FOUND' } });

@Resolver(() => UserModel)
export class UsersResolver {
  constructor(private readonly users: UsersClient) {}

  @Query(() => UserModel, { nullable: true, description: 'The user with this id; null when there is none.' })
  async user(@CurrentCaller() caller: Caller, @Args('id', { type: () => UUID }) id: string): Promise<UserDto | null> {
    // Another person's user reads as if it did not exist.
    return mayTouch(caller, id) ? this.users.findById(id) : null;
  }

  @Public()
  @Mutation(() => UserModel, { description: 'Creates a user; the password is stored only as an argon2id hash.' })
  createUser(@Args('input') input: CreateUserInput): Promise<UserDto> {
    return this.users.create(input);
  }

  @Mutation(() => UserModel, { description: 'Changes the given fields; the others stay.' })
  updateUser(
    @CurrentCaller() caller: Caller,
    @Args('id', { type: () => UUID }) id: string,
    @Args('input') input: UpdateUserInput,
  ): Promise<UserDto> {
    if (!mayTouch(caller, id)) throw notFound(id);
    return this.users.update(id, input);
  }

  @Mutation(() => Boolean, { description: 'Deletes a user; their orders follow within seconds.' })
  deleteUser(@CurrentCaller() caller: Caller, @Args('id', { type: () => UUID }) id: string): Promise<boolean> {
    if (!mayTouch(caller, id)) throw notFound(id);
    return this.users.delete(id);
  }
}
