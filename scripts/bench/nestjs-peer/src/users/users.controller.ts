import { Controller, UseInterceptors } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { RmqAckInterceptor } from '../common/rmq-ack.interceptor';
import { CreateUserRequest, LoginRequest, UpdateUserRequest, UsersPatterns } from '../common/rpc';
import { UsersService } from './users.service';

@Controller()
@UseInterceptors(RmqAckInterceptor)
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @MessagePattern(UsersPatterns.ping)
  ping() {
    return this.users.ping();
  }

  @MessagePattern(UsersPatterns.get)
  get(@Payload() { id }: { id: string }) {
    return this.users.findById(id);
  }

  @MessagePattern(UsersPatterns.getMany)
  getMany(@Payload() { ids }: { ids: string[] }) {
    return this.users.findByIds(ids);
  }

  @MessagePattern(UsersPatterns.caller)
  caller(@Payload() { id }: { id: string }) {
    return this.users.caller(id);
  }

  @MessagePattern(UsersPatterns.create)
  create(@Payload() input: CreateUserRequest) {
    return this.users.create(input);
  }

  @MessagePattern(UsersPatterns.update)
  update(@Payload() request: UpdateUserRequest) {
    return this.users.update(request);
  }

  @MessagePattern(UsersPatterns.delete)
  delete(@Payload() { id }: { id: string }) {
    return this.users.delete(id);
  }

  @MessagePattern(UsersPatterns.login)
  login(@Payload() request: LoginRequest) {
    return this.users.login(request);
  }
}
