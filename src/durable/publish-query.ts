import { validateUserChannel } from '../channel-name.js';
import { serializeJson } from '../payload/serialize.js';
import { DEFAULT_DURABLE_SCHEMA, quotedSchema } from './durable-schema-sql.js';

/** A parameterised query publishing one durable message, as node-postgres takes it. */
export interface PublishQuery {
  /** `SELECT "schema".publish($1, $2)::text AS id`: one row, the new message's id as a decimal string. */
  readonly text: string;
  /** The channel name and the serialised payload. */
  readonly values: [channel: string, payload: string];
}

/** Options of {@link publishQuery}. */
export interface PublishQueryOptions {
  /** The schema of the durable tables (default `'pgnotifier'`). */
  readonly schema?: string;
}

/**
 * Builds a parameterised durable publish for any pg client, so a write and its message commit
 * together in your own transaction (a rollback publishes nothing). The payload is serialised as
 * `notify()` does (`JSON.stringify`), with no size limit beyond PostgreSQL's 1 GB per value.
 *
 * @example
 * ```ts
 * import { publishQuery } from 'pgnotifier';
 *
 * await client.query('BEGIN');
 * await client.query('UPDATE orders SET state = $1 WHERE id = $2', ['paid', 42]);
 * const { rows } = await client.query(publishQuery('orders', { id: 42, state: 'paid' }));
 * await client.query('COMMIT'); // the message is readable now, with the update; rows[0].id is its id
 * ```
 *
 * @throws {@link InvalidChannelError} for an invalid channel name or one starting with the reserved
 * `pgnotifier:`, {@link InvalidArgumentError}
 * for a payload that cannot be serialised or an invalid schema name.
 */
export function publishQuery(channel: string, payload?: unknown, options: PublishQueryOptions = {}): PublishQuery {
  validateUserChannel(channel);
  return publishTextQuery(options.schema ?? DEFAULT_DURABLE_SCHEMA, channel, serializeJson(channel, payload));
}

/** The publish query for a payload text that is already serialised. */
export function publishTextQuery(schema: string, channel: string, text: string): PublishQuery {
  return { text: `SELECT ${quotedSchema(schema)}.publish($1, $2)::text AS id`, values: [channel, text] };
}
