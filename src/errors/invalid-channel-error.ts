import { NotifierError } from './notifier-error.js';

/**
 * Thrown synchronously for a channel name PostgreSQL would not deliver to as written: not a
 * string, empty, containing a NUL character, or longer than 63 UTF-8 bytes (the server would
 * silently truncate it). Nothing has changed when it is thrown.
 */
export class InvalidChannelError extends NotifierError {
  /** `'InvalidChannelError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'InvalidChannelError' as const;

  constructor(
    /** The rejected value, as given. */
    readonly channel: unknown,
    reason: string,
  ) {
    super(`Invalid channel name ${describe(channel)}: ${reason}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  // String() throws on objects without a prototype (Object.create(null)): name the type instead.
  if (value === null) return 'null';
  if (typeof value === 'object') return value instanceof String ? 'a String object' : 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}
