import { validateChannel } from '../channel-name.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { PayloadTooLargeError } from '../errors/payload-too-large-error.js';

/**
 * PostgreSQL refuses payloads of 8000 bytes or more in its default build ("payload string too
 * long"), counting UTF-8 bytes, so 7999 is the largest that is sent.
 */
export const MAX_PAYLOAD_BYTES = 7999;

/**
 * Serialises a payload with `JSON.stringify` (so every JSON value round-trips: the string `'42'`
 * arrives as the string `'42'`) and checks its size. `undefined` sends an empty payload.
 *
 * @throws {@link PayloadTooLargeError} when the text is 8000 bytes or more;
 * {@link InvalidArgumentError} when the value cannot be serialised (a BigInt, a cycle, a function).
 */
export function serializePayload(channel: string, payload: unknown): string {
  return checkPayloadSize(channel, serializeJson(channel, payload));
}

/**
 * Serialises a payload as {@link serializePayload} does, without the size check (durable
 * channels take payloads of any size).
 *
 * @throws {@link InvalidArgumentError} when the value cannot be serialised (a BigInt, a cycle, a function).
 */
export function serializeJson(channel: string, payload: unknown): string {
  // JSON.stringify is typed to return a string, but gives undefined for a function or a symbol.
  let text: unknown;
  try {
    text = payload === undefined ? '' : JSON.stringify(payload);
  } catch (error) {
    throw new InvalidArgumentError(`Cannot serialise the payload for channel ${JSON.stringify(channel)} as JSON`, { cause: error });
  }
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`Cannot serialise a ${typeof payload} payload for channel ${JSON.stringify(channel)} as JSON`);
  }
  return text;
}

/**
 * Returns a payload's text unchanged when PostgreSQL will take it.
 *
 * @throws {@link PayloadTooLargeError} when the text is 8000 UTF-8 bytes or more.
 */
export function checkPayloadSize(channel: string, text: string): string {
  // length * 3 bounds the UTF-8 size, so small payloads skip the byte count.
  if (text.length * 3 > MAX_PAYLOAD_BYTES) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_PAYLOAD_BYTES) throw new PayloadTooLargeError(channel, bytes, MAX_PAYLOAD_BYTES);
  }
  return text;
}

/** A parameterised query, as node-postgres takes it. */
export interface NotifyQuery {
  /** `SELECT pg_notify($1, $2)`. */
  readonly text: string;
  /** The channel name and the serialised payload. */
  readonly values: [channel: string, payload: string];
}

/**
 * Builds a parameterised `pg_notify` for any pg client, so a write and its notification commit
 * together in the caller's own transaction. The payload is serialised as `notify` does.
 *
 * @example
 * ```ts
 * import { notifyQuery } from 'pgnotifier';
 *
 * await client.query('BEGIN');
 * await client.query('UPDATE orders SET state = $1 WHERE id = $2', ['paid', 42]);
 * await client.query(notifyQuery('orders', { id: 42, state: 'paid' }));
 * await client.query('COMMIT'); // the notification is delivered now, with the update
 * ```
 *
 * @throws {@link InvalidChannelError}, {@link PayloadTooLargeError}, {@link InvalidArgumentError}
 */
export function notifyQuery(channel: string, payload?: unknown): NotifyQuery {
  validateChannel(channel);
  return pgNotifyQuery(channel, serializePayload(channel, payload));
}

/** The parameterised `pg_notify` for a payload text that is already serialised and checked. */
export function pgNotifyQuery(channel: string, text: string): NotifyQuery {
  return { text: 'SELECT pg_notify($1, $2)', values: [channel, text] };
}
