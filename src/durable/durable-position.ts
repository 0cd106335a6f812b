import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { describeValue } from './describe-value.js';

/**
 * Where a durable reader stands, PgQ-style: it has read every message whose transaction is visible
 * in `since`, and of the batch between `since` and `upto` (visible in `upto`, not in `since`), the
 * messages up to id `lastId` (`'0'`: none of them yet). Snapshots are in PostgreSQL's
 * `pg_snapshot` text form (`xmin:xmax:xip,...`).
 */
export interface DurablePosition {
  readonly since: string;
  readonly upto: string;
  readonly lastId: string;
}

const SNAPSHOT = /^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$/;
const ID = /^\d{1,19}$/;
const VERSION = 'v1';

/** The opaque cursor of a position: base64url of its parts, so users keep it as one string. */
export function encodeCursor(position: DurablePosition): string {
  return Buffer.from(`${VERSION}/${position.since}/${position.upto}/${position.lastId}`, 'utf8').toString('base64url');
}

/**
 * The position a cursor stands for.
 *
 * @throws {@link InvalidArgumentError} when it is not a cursor this library made.
 */
export function decodeCursor(cursor: unknown): DurablePosition {
  if (typeof cursor === 'string' && cursor.length > 0 && cursor.length < 1_000_000) {
    const [version, since, upto, lastId, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('/');
    if (
      version === VERSION &&
      rest.length === 0 &&
      since !== undefined &&
      SNAPSHOT.test(since) &&
      upto !== undefined &&
      SNAPSHOT.test(upto) &&
      lastId !== undefined &&
      ID.test(lastId)
    ) {
      return { since, upto, lastId };
    }
  }
  throw new InvalidArgumentError(`Not a durable cursor: ${describeValue(cursor)}`);
}
