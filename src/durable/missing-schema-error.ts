import { DurableUnavailableError } from '../errors/durable-unavailable-error.js';

/**
 * The SQLSTATEs of a durable schema that is not there (or only partly): undefined_table,
 * invalid_schema_name, undefined_function.
 */
const MISSING = new Set(['42P01', '3F000', '42883']);

/**
 * The {@link DurableUnavailableError} saying what to do when `error` is the server refusing one of
 * our queries because the durable schema `schema` (or one of its tables or functions) is missing;
 * `undefined` for any other error. The server's message must name the schema: an undefined
 * function of PostgreSQL itself (e.g. `pg_current_snapshot` before version 13) is another problem.
 */
export function missingSchemaError(error: unknown, schema: string, method: string): DurableUnavailableError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !MISSING.has(code) || typeof message !== 'string') return undefined;
  // 42P01 and 42883 name the object as schema.name, 3F000 names the schema in quotes.
  if (!message.includes(`${schema}.`) && !message.includes(`"${schema}"`)) return undefined;
  return new DurableUnavailableError(method, { schema, cause: error });
}
