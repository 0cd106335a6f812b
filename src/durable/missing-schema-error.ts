import { DurableUnavailableError } from '../errors/durable-unavailable-error.js';

/**
 * The SQLSTATEs of a durable schema that is not there (or only partly): undefined_table,
 * invalid_schema_name, undefined_function.
 */
const MISSING = new Set(['42P01', '3F000', '42883']);

/** The server's message for a column of packed rows missing: `column m.n does not exist`, `column "packed_payloads" …`. */
const OUTDATED = /^column "?(?:\w+\.)?(?:n|single_payload|packed_payloads)"? (?:of relation "messages" )?does not exist/;

/**
 * The {@link DurableUnavailableError} saying what to do when `error` is the server refusing one of
 * our queries because the durable schema `schema` (or one of its tables or functions) is missing,
 * or its messages table is an earlier version's (no packed rows); `undefined` for any other error. The server's message must name the schema: an undefined
 * function of PostgreSQL itself (e.g. `pg_current_snapshot` before version 13) is another problem.
 */
export function missingSchemaError(error: unknown, schema: string, method: string): DurableUnavailableError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  // undefined_column, for a column this version added: the tables of an earlier version, to upgrade.
  if (code === '42703' && OUTDATED.test(message)) return new DurableUnavailableError(method, { schema, cause: error, outdated: true });
  if (!MISSING.has(code)) return undefined;
  // 42P01 and 42883 name the object as schema.name, 3F000 names the schema in quotes.
  if (!message.includes(`${schema}.`) && !message.includes(`"${schema}"`)) return undefined;
  return new DurableUnavailableError(method, { schema, cause: error });
}
