/**
 * A notification as delivered to `channel$` observers.
 *
 * @typeParam T - the payload type after parsing (`unknown` with the default parser).
 */
export interface Notification<T = unknown> {
  /** The channel it was sent on, exactly as `pg_notify` named it. */
  readonly channel: string;
  /** The payload after parsing (JSON where it parses, otherwise the raw text). */
  readonly payload: T;
  /** The process id of the PostgreSQL backend that sent it. */
  readonly pid: number;
}

/**
 * A notification of a durable channel (`channel$(channel, { durable: true })`): a
 * {@link Notification} with the message's id and cursor.
 */
export interface DurableNotification<T = unknown> extends Notification<T> {
  /** The message id: a decimal string, unique within its outbox. */
  readonly id: string;
  /** Opaque: `channel$(channel, { durable: true, since: cursor })` resumes right after this message. */
  readonly cursor: string;
}

/** The fifth argument of a durable subscriber's callback: which message it is handling. */
export interface DurableDelivery {
  /** The message id: a decimal string, unique within its outbox (an idempotency key). */
  readonly id: string;
  /** Opaque: the position right after this message. */
  readonly cursor: string;
}

/**
 * A durable subscriber's callback (`subscribe(id, channel, callback, { durable: true })`): called
 * one message at a time; the stored position moves past the message once the callback (and the
 * promise it returns) completes.
 *
 * @param id - the id it was subscribed under.
 * @param channel - the channel of the message.
 * @param payload - the parsed payload.
 * @param pid - the process id of the publishing backend.
 * @param message - the message's id and cursor.
 */
export type DurableSubscriberCallback<T = unknown> = (
  id: SubscriberId,
  channel: string,
  payload: T,
  pid: number,
  message: DurableDelivery,
) => unknown;

/**
 * A subscriber id: a string, a finite number, or an array of those (nested arrays allowed).
 * Arrays compare by value: `['a', 1]` is the same subscriber as another `['a', 1]`.
 */
export type SubscriberId = string | number | readonly SubscriberId[];

/**
 * A subscriber callback. It may return a promise; a rejection is reported like a throw.
 *
 * @param id - the id it was subscribed under.
 * @param channel - the channel of the notification.
 * @param payload - the parsed payload.
 * @param pid - the process id of the sending backend.
 */
export type SubscriberCallback<T = unknown> = (id: SubscriberId, channel: string, payload: T, pid: number) => unknown;

/**
 * Turns a payload's text into a value. Throwing reports a `PayloadParseError` and skips that
 * notification for the consumers of this parser.
 */
export type PayloadParser<T = unknown> = (raw: string, channel: string) => T;

/**
 * How payloads are parsed: `'json'` (the default: `JSON.parse`, falling back to the raw text when
 * it is not JSON), `'raw'` (the text as is), or a function.
 */
export type ParseOption<T = unknown> = 'json' | 'raw' | PayloadParser<T>;

/** Where the listening connection stands. */
export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'closed';

/** A value of `state$`: the connection's status, with the attempt and last error while it retries. */
export interface ConnectionState {
  /**
   * - `idle`: never started (the first change that needs the server, or `start()`, starts it);
   * - `connecting`: the first connect after a start, and its retries;
   * - `connected`: a connection is open and serving;
   * - `reconnecting`: a connection that was up was lost; retrying with backoff;
   * - `stopped`: `stop()` was called; the registry is kept until `start()`;
   * - `closed`: `close()` was called; final.
   */
  readonly status: ConnectionStatus;
  /** The attempt under way (1 for the first), while `connecting` or `reconnecting`. */
  readonly attempt?: number;
  /** Why the previous attempt or connection failed, while `connecting` or `reconnecting`. */
  readonly error?: Error;
}

/**
 * The channel names of a notifier typed with a channel map (`Notifier<{ orders: Order }>`), or
 * `string` for an untyped one.
 */
export type ChannelName<Channels> = string extends keyof Channels ? string : Extract<keyof Channels, string>;

/** A channel argument: one name or any iterable of them. */
export type ChannelNames<Channels> = ChannelName<Channels> | Iterable<ChannelName<Channels>>;

/** `string` for an untyped notifier (whose methods take a per-call payload type), `never` for a typed one. */
export type UntypedChannel<Channels> = string extends keyof Channels ? string : never;

/** The payload type of channel `C` in a typed notifier's channel map. */
export type TypedChannel<Channels, C extends string> = C extends keyof Channels ? Channels[C] : never;
