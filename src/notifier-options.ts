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

/** Options of `channel$`. */
export interface ChannelOptions<T> {
  /**
   * How this Observable parses payloads; observers of one `channel$` call share one parse.
   * @defaultValue the notifier's `parse`
   */
  readonly parse?: ParseOption<T>;
}
