import { Catch } from '@nestjs/common';
import { GqlExceptionFilter } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';

/**
 * The errors the API answers on purpose (BAD_USER_INPUT, NOT_FOUND, UNAUTHENTICATED, ...) go to
 * the client as they are, without Nest's error log line per request; anything else still goes
 * through Nest's handler, which logs it.
 */
@Catch(GraphQLError)
export class GraphQLErrorFilter implements GqlExceptionFilter {
  catch(exception: GraphQLError): GraphQLError {
    return exception;
  }
}
