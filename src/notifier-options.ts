import type { PgListenSourceOptions } from './source/pg-listen-source.js';
import type { ParseOption } from './types.js';

/** Options of `new Notifier(config, options)`. */
export interface NotifierOptions extends PgListenSourceOptions {
  /**
   * How payloads are parsed for callbacks and for `channel$` observers that do not choose their
   * own parser.
   * @defaultValue `'json'`: `JSON.parse`, or the raw text when it is not JSON
   */
  readonly parse?: ParseOption;
  /**
   * Durable channels (PostgreSQL 13 or later; see `install()`), for a PostgreSQL config: the
   * notifier opens their small pool on the first durable call, and wakes their readers from its
   * own listening connection (a reserved `pgnotifier:<schema>` channel), after each reconnect and
   * every `pollIntervalMs`. A source given as `config` brings its own durable part, if any.
   */
  readonly durable?: NotifierDurableOptions;
}

/** The `durable` option of `new Notifier`. */
export interface NotifierDurableOptions {
  /**
   * The schema of the durable tables.
   * @defaultValue 'pgnotifier'
   */
  readonly schema?: string;
  /**
   * How long messages are kept, in milliseconds; the notifiers prune older ones themselves.
   * @defaultValue 604800000 (7 days)
   */
  readonly retentionMs?: number;
  /**
   * How often every durable reader checks for new messages without a wake-up, in milliseconds.
   * @defaultValue 1000
   */
  readonly pollIntervalMs?: number;
  /**
   * How long opening a durable connection may take, in milliseconds.
   * @defaultValue 10000
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long one durable query may take, in milliseconds (pruning gets ten times as long): a
   * half-open connection, a hung server or a lock held elsewhere then fails the query with a
   * `ConnectionError` (on `errors$` for a reader, which retries on the next wake-up or poll)
   * instead of hanging it. It bounds a payload's transfer too: raise it for payloads of hundreds
   * of megabytes over a slow network.
   * @defaultValue 30000
   */
  readonly queryTimeoutMs?: number;
}

/** Options of the methods that change what is LISTENed. */
export interface ChangeOptions {
  /**
   * Apply the change to the server now (`true`), or leave the connection as it is until the next
   * `start()` or `restart()` (`false`). The registry changes at once either way.
   * @defaultValue true
   */
  readonly autorun?: boolean;
}

/** Options of `subscribe`. */
export interface SubscribeOptions extends ChangeOptions {
  /**
   * `true`: the (id, channel) pair is a durable consumer whose position is stored in the database
   * (the callback then gets a fifth argument, see {@link DurableSubscribeOptions}). Refused with
   * `DurableUnavailableError` by a notifier without durable channels.
   * @defaultValue false
   */
  readonly durable?: boolean;
}

/** Options of a durable `subscribe`. */
export interface DurableSubscribeOptions extends SubscribeOptions {
  /** A durable consumer: its position is stored under (id, channel). */
  readonly durable: true;
}

/** Options of `unsubscribe`. */
export interface UnsubscribeOptions extends ChangeOptions {
  /**
   * `true`: also delete the stored positions of the id's durable pairs that are unsubscribed (a
   * later durable subscribe starts at that moment). Without it a durable pair's position is kept.
   * Refused with `DurableUnavailableError` by a notifier without durable channels.
   * @defaultValue false
   */
  readonly forget?: boolean;
}

/** Options of `channel$`. */
export interface ChannelOptions<T> {
  /**
   * `true`: read the channel's durable messages (notifications with `id` and `cursor`). Refused
   * with `DurableUnavailableError` by a notifier without durable channels.
   * @defaultValue false
   */
  readonly durable?: boolean;
  /**
   * Where each observer of a durable `channel$` starts: a cursor (right after that message),
   * `'earliest'` (everything retained) or `'now'`; `{ after: cursor }` works too.
   * @defaultValue 'now': only messages committed after the observer subscribed
   */
  readonly since?:
    | string
    | {
        /** The cursor of the last message already seen. */
        readonly after: string;
      };
  /**
   * How this Observable parses payloads; observers of one `channel$` call share one parse.
   * @defaultValue the notifier's `parse`
   */
  readonly parse?: ParseOption<T>;
}
