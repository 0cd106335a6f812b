import { createHash } from 'node:crypto';

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

const SNAPSHOT = /^(\d{1,20}):(\d{1,20}):((?:\d{1,20})(?:,\d{1,20})*)?$/;
const ID = /^\d{1,19}$/;
const TAG = /^[\w-]{8}$/;
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;
/** v1: `v1/since/upto/lastId`, of no channel (still read). v2: `v2/tag/since/upto/lastId`. */
const VERSION = 'v2';

// A reader encodes a cursor per message, nearly always of the same few channels.
const tags = new Map<string, string>();

/**
 * The channel's tag in a cursor: 48 bits of its SHA-256, so a cursor stays short and says which
 * channel it belongs to (a mix-up, not an attack, is what it guards against).
 */
function tagOf(channel: string): string {
  let tag = tags.get(channel);
  if (tag === undefined) {
    if (tags.size >= 1000) tags.clear();
    tag = createHash('sha256').update(channel, 'utf8').digest('base64url').slice(0, 8);
    tags.set(channel, tag);
  }
  return tag;
}

/**
 * The opaque cursor of a position: base64url of its parts, so users keep it as one string. A
 * position inside `channel`'s messages names it; without a channel (a moment, such as now, where
 * every channel's reading can start) it names none.
 */
export function encodeCursor(position: DurablePosition, channel?: string): string {
  const tag = channel === undefined ? '' : tagOf(channel);
  return Buffer.from(`${VERSION}/${tag}/${position.since}/${position.upto}/${position.lastId}`, 'utf8').toString('base64url');
}

/**
 * The position a cursor stands for. Given `channel`, a cursor that names another channel is
 * refused (resuming one channel at another's message would skip or repeat messages).
 *
 * @throws {@link InvalidArgumentError} when it is not a cursor this library made (in form or in
 * meaning: a snapshot PostgreSQL would refuse, an id out of range), or one of another channel.
 */
export function decodeCursor(cursor: unknown, channel?: string): DurablePosition {
  if (typeof cursor === 'string' && cursor.length > 0 && cursor.length < 1_000_000) {
    const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('/');
    // v1 cursors (before cursors named their channel) name none.
    const [tag, since, upto, lastId, ...rest] = parts[0] === VERSION ? parts.slice(1) : parts[0] === 'v1' ? ['', ...parts.slice(1)] : [];
    if (
      rest.length === 0 &&
      tag !== undefined &&
      (tag === '' || TAG.test(tag)) &&
      since !== undefined &&
      upto !== undefined &&
      lastId !== undefined &&
      isPosition(since, upto, lastId)
    ) {
      if (channel !== undefined && tag !== '' && tag !== tagOf(channel)) {
        throw new InvalidArgumentError(
          `The durable cursor ${describeValue(cursor)} belongs to another channel than ${JSON.stringify(channel)}: a cursor resumes only the channel it came from`,
        );
      }
      return { since, upto, lastId };
    }
  }
  throw new InvalidArgumentError(`Not a durable cursor: ${describeValue(cursor)}`);
}

/**
 * Whether the parts make a position PostgreSQL takes and a reader could have been at: each
 * snapshot as `pg_snapshot` reads it (xmin and xmax not 0, xmin <= xmax, each in-progress xid in
 * [xmin, xmax) and ascending), `upto` no older than `since` (xmax only grows), the id a bigint.
 */
function isPosition(since: string, upto: string, lastId: string): boolean {
  const a = snapshotBounds(since);
  const b = snapshotBounds(upto);
  return a !== undefined && b !== undefined && a.xmax <= b.xmax && ID.test(lastId) && BigInt(lastId) <= MAX_BIGINT;
}

function snapshotBounds(snapshot: string): { xmin: bigint; xmax: bigint } | undefined {
  const match = SNAPSHOT.exec(snapshot);
  if (match === null) return undefined;
  const [, xminText = '', xmaxText = '', xip = ''] = match;
  const xmin = BigInt(xminText);
  const xmax = BigInt(xmaxText);
  if (xmin === 0n || xmax > MAX_XID8 || xmin > xmax) return undefined;
  let previous = xmin - 1n;
  for (const text of xip === '' ? [] : xip.split(',')) {
    const xid = BigInt(text);
    if (xid <= previous || xid >= xmax) return undefined;
    previous = xid;
  }
  return { xmin, xmax };
}
