import type { DurableReaderStatus } from './durable/durable-readers.js';
import type { Counters } from './routing/counters.js';
import type { ServerStatus } from './source/server-status.js';
import type { SerializedError } from './state/views.js';
import type { ConnectionStatus } from './types.js';

/** What `status()` reports: a fresh, JSON-serialisable snapshot. */
export interface NotifierStatus {
  /** Same as `isRunning()`: a connection is open and serving. */
  readonly running: boolean;
  /** The current value of `state$`, its error as plain data. */
  readonly connection: {
    /** See {@link ConnectionState}. */
    readonly status: ConnectionStatus;
    /** The attempt under way, while `connecting` or `reconnecting`. */
    readonly attempt?: number;
    /** Why the previous attempt or connection failed, as `name`, `message` and `code`. */
    readonly error?: SerializedError;
  };
  /** How many channels are registered. */
  readonly channels: number;
  /** The channels whose LISTEN the server acknowledged on the current connection. */
  readonly activeChannels: string[];
  /** The muted channels. */
  readonly mutedChannels: string[];
  /** How many distinct subscriber ids are subscribed. */
  readonly subscribers: number;
  /** How many (subscriber, channel) pairs exist. */
  readonly subscriptions: number;
  /** How many `channel$` observers are subscribed, over all channels. */
  readonly observers: number;
  /** Running totals since the notifier was created. */
  readonly counters: Readonly<Counters>;
  /** The listening backend's pid and the server's notification queue usage, where known. */
  readonly server?: ServerStatus;
  /**
   * Durable channels, once the notifier used them: every durable subscriber and durable
   * `channel$` observer with its position and how many messages it is behind.
   */
  readonly durable?: {
    /** The durable readers, subscribers and observers. */
    readonly readers: DurableReaderStatus[];
  };
}
