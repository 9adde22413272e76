import { TypeOrmModuleOptions } from '@nestjs/typeorm';
import { requiredEnv } from './config';

/**
 * A service's own PostgreSQL database. Each role creates its own tables at start-up
 * (`synchronize`, acceptable for a benchmark peer: the schema is fixed).
 */
export function databaseOptions(urlVariable: string, entities: Function[], synchronize = true): TypeOrmModuleOptions {
  return {
    type: 'postgres',
    url: requiredEnv(urlVariable),
    entities,
    synchronize,
    uuidExtension: 'pgcrypto',
    logging: false,
    // node-postgres' pool; ours keeps a pool of about this size too.
    extra: { max: 10 },
  };
}
