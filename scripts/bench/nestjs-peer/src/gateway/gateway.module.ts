import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Logger, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { AuthGuard } from './auth/auth.guard';
import { AuthModule } from './auth/auth.module';
import { AuthService } from './auth/auth.service';
import { AuthenticatedRequest } from './auth/caller';
import { AuthResolver } from './graphql/auth.resolver';
import { LoadersFactory } from './graphql/loaders';
import { OrdersResolver } from './graphql/orders.resolver';
import { UsersResolver } from './graphql/users.resolver';
import { GraphQLErrorFilter } from './graphql-error.filter';
import { HealthController } from './health.controller';
import { ServicesModule } from './services.module';

const logger = new Logger('GraphQL');

/** Errors keep their code; an unexpected one is logged and shown without its internals. */
function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof GraphQLError || formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') {
    return formatted;
  }
  logger.error(original);
  return { message: 'internal error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/** The gateway: `node dist/main.js gateway`. */
@Module({
  imports: [
    ServicesModule,
    AuthModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      imports: [ServicesModule, AuthModule],
      inject: [LoadersFactory, AuthService],
      useFactory: (loaders: LoadersFactory, auth: AuthService) => ({
        path: '/graphql',
        autoSchemaFile: true,
        sortSchema: true,
        formatError,
        context: ({ req }: { req: AuthenticatedRequest }) => {
          // The token is checked for every request that sends one, as ours does.
          auth.begin(req);
          // One set of DataLoaders per request.
          return { req, loaders: loaders.create() };
        },
      }),
    }),
  ],
  controllers: [HealthController],
  providers: [
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_FILTER, useClass: GraphQLErrorFilter },
    UsersResolver,
    OrdersResolver,
    AuthResolver,
  ],
})
export class GatewayModule {}
