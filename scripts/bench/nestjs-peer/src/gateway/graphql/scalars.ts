import { GraphQLError, GraphQLScalarType, Kind, ValueNode } from 'graphql';
import { isUuid } from '../../common/uuid';

/**
 * The contract's scalars, all strings on the wire, declared so the same documents validate:
 * UUID, Decimal (exact, two places on output; input only as a string) and DateTime (RFC 3339 UTC).
 */

const badInput = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

function stringLiteral(ast: ValueNode): string | undefined {
  return ast.kind === Kind.STRING ? ast.value : undefined;
}

function parseUuid(value: unknown): string {
  if (!isUuid(value)) throw badInput('not a UUID');
  return value.toLowerCase();
}

export const UUID = new GraphQLScalarType<string, string>({
  name: 'UUID',
  description: 'RFC 4122 text.',
  specifiedByURL: 'http://tools.ietf.org/html/rfc4122',
  serialize: (value) => value as string,
  parseValue: parseUuid,
  parseLiteral: (ast) => parseUuid(stringLiteral(ast)),
});

function parseDecimal(value: unknown): string {
  // A JSON or GraphQL number is refused: money is never a float. Its format is the orders service's to check.
  if (typeof value !== 'string') throw badInput('a Decimal must be given as a string, such as "19.90"');
  return value;
}

export const Decimal = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'Exact decimal as a JSON string, always two places on output: "59.70". Input must be a string ("19.9", "19.90").',
  serialize: (value) => value as string,
  parseValue: parseDecimal,
  parseLiteral: (ast) => parseDecimal(stringLiteral(ast)),
});

function parseDateTime(value: unknown): string {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw badInput('not an RFC 3339 date-time');
  return new Date(value).toISOString();
}

export const DateTime = new GraphQLScalarType<string, string>({
  name: 'DateTime',
  description: 'RFC 3339, UTC.',
  // The services send them as ISO strings already (Date#toISOString); a Date is formatted so.
  serialize: (value) => (value instanceof Date ? value.toISOString() : (value as string)),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(stringLiteral(ast)),
});
