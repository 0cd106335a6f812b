import { DURABLE_WAKE_PREFIX } from './durable/durable-schema-sql.js';
import { InvalidChannelError } from './errors/invalid-channel-error.js';

/**
 * The longest channel name PostgreSQL keeps, in UTF-8 bytes (NAMEDATALEN - 1). Longer names are
 * silently truncated by LISTEN and refused by `pg_notify`, so we refuse them first.
 */
export const MAX_CHANNEL_BYTES = 63;

/** With the `u` flag a string is read by code points, so only unpaired surrogates match. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks one channel name and returns it unchanged.
 *
 * @throws {@link InvalidChannelError} when it is not a non-empty, well-formed string of at most
 * 63 UTF-8 bytes without NUL characters.
 */

export function validateChannel(channel: unknown): string {
  if (typeof channel !== 'string') throw new InvalidChannelError(channel, 'it must be a string');
  if (channel.length === 0) throw new InvalidChannelError(channel, 'it must not be empty');
  if (channel.includes('\0')) throw new InvalidChannelError(channel, 'it must not contain a NUL character');
  // A lone surrogate reaches the server as U+FFFD: LISTEN would name another channel than NOTIFY.
  if (LONE_SURROGATE.test(channel)) throw new InvalidChannelError(channel, 'it is not well-formed Unicode (a lone surrogate)');
  // length * 3 bounds the UTF-8 size, so short names skip the byte count.
  if (channel.length * 3 > MAX_CHANNEL_BYTES) {
    const bytes = Buffer.byteLength(channel, 'utf8');
    if (bytes > MAX_CHANNEL_BYTES) {
      throw new InvalidChannelError(channel, `it is ${bytes} UTF-8 bytes; PostgreSQL keeps at most ${MAX_CHANNEL_BYTES}`);
    }
  }
  return channel;
}

/**
 * Checks a channel name users may give (to `channel$`, `notify`, `publish`, `publishQuery`, the
 * CLI's `notify`…) and returns it unchanged: valid, and not one of the reserved wake-up channels
 * (a name starting with {@link DURABLE_WAKE_PREFIX} would hear or fake durable wake-ups).
 *
 * @throws {@link InvalidChannelError} when it is not valid or starts with the reserved prefix.
 */
export function validateUserChannel(channel: unknown): string {
  const name = validateChannel(channel);
  if (name.startsWith(DURABLE_WAKE_PREFIX)) {
    throw new InvalidChannelError(name, `names starting with ${JSON.stringify(DURABLE_WAKE_PREFIX)} are reserved for durable wake-ups`);
  }
  return name;
}

/**
 * Normalises a `channels` argument: one name, or any iterable of names, to a list of distinct
 * valid names in the order given.
 *
 * @throws {@link InvalidChannelError} for any invalid name, and when the argument is neither a
 * string nor an iterable of them.
 */
export function channelList(channels: unknown): string[] {
  // Typed callers pass a string or an iterable; JavaScript callers may pass anything. A String
  // object is iterable too, but by characters: it is refused like any other non-string name, and
  // so is anything else that is not iterable (the same class `subscribe` throws for it).
  if (typeof channels === 'string') return [validateChannel(channels)];
  if (channels === null || typeof channels !== 'object' || channels instanceof String || !(Symbol.iterator in channels)) {
    return [validateChannel(channels)];
  }
  const seen = new Set<string>();
  for (const channel of channels as Iterable<unknown>) seen.add(validateChannel(channel));
  return [...seen];
}
