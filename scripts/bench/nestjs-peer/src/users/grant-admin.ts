import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { databaseOptions } from '../common/database';
import { User } from './user.entity';

@Injectable()
class AdminService {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  /** Whether a user of this nickName (ignoring case) was found. */
  async grant(nickName: string): Promise<boolean> {
    const result = await this.users.update({ nickNameKey: nickName.toLowerCase() }, { isAdmin: true });
    return (result.affected ?? 0) > 0;
  }
}

@Module({
  imports: [
    TypeOrmModule.forRootAsync({ useFactory: () => databaseOptions('USERS_DATABASE_URL', [User], false) }),
    TypeOrmModule.forFeature([User]),
  ],
  providers: [AdminService],
})
class GrantAdminModule {}

/** `node dist/main.js grant-admin NICK`: an operator's command, never the API. */
export async function grantAdmin(nickName: string | undefined): Promise<number> {
  if (!nickName) {
    console.error('usage: main.js grant-admin <nickName>');
    return 2;
  }
  const app = await NestFactory.createApplicationContext(GrantAdminModule, { logger: ['error'] });
  try {
    if (await app.get(AdminService).grant(nickName)) {
      console.log(`${nickName} is now an admin`);
      return 0;
    }
    console.error(`no user has the nickName ${nickName}`);
    return 1;
  } finally {
    await app.close();
  }
}
