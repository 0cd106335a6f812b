import type { DurableStart } from './source/durable-source.js';
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

/**
 * Options of `subscribe`. Room for `durable: true` (a subscriber that reads a durable channel
 * from its stored position): refused until the notifier's source offers durable channels.
 */
export interface SubscribeOptions extends ChangeOptions {
  /** Reserved for durable channels; `true` is refused by a notifier without them. */
  readonly durable?: boolean;
}

/**
 * Options of `unsubscribe`. Room for `forget: true` (also delete a durable subscriber's stored
 * position): refused until the notifier's source offers durable channels.
 */
export interface UnsubscribeOptions extends ChangeOptions {
  /** Reserved for durable channels; `true` is refused by a notifier without them. */
  readonly forget?: boolean;
}

/** Options of `channel$`. */
export interface ChannelOptions<T> {
  /** Reserved for durable channels; `true` is refused by a notifier without them. */
  readonly durable?: boolean;
  /** Reserved for durable channels: where a durable reader starts. */
  readonly since?: DurableStart;
  /**
   * How this Observable parses payloads; observers of one `channel$` call share one parse.
   * @defaultValue the notifier's `parse`
   */
  readonly parse?: ParseOption<T>;
}
