import { messageOf } from './message-of.js';
import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` when a payload parser throws. The notification is skipped for the
 * consumers of that parser; later notifications keep flowing.
 */
export class PayloadParseError extends NotifierError {
  /** `'PayloadParseError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'PayloadParseError' as const;

  constructor(
    /** The channel the notification arrived on. */
    readonly channel: string,
    /** The payload text as PostgreSQL delivered it. */
    readonly raw: string,
    options: { cause: unknown },
  ) {
    super(`Could not parse the payload on channel ${JSON.stringify(channel)}: ${messageOf(options.cause)}`, options);
  }
}
