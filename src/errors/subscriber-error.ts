import type { SubscriberId } from '../types.js';
import { messageOf } from './message-of.js';
import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` when a subscriber callback throws or its returned promise rejects. The
 * other subscribers still receive the notification and the listener keeps running.
 */
export class SubscriberError extends NotifierError {
  /** `'SubscriberError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'SubscriberError' as const;

  constructor(
    /** The id of the subscriber whose callback failed. */
    readonly id: SubscriberId,
    /** The channel of the notification it was handling. */
    readonly channel: string,
    options: { cause: unknown },
  ) {
    super(`Subscriber ${JSON.stringify(id)} failed on channel ${JSON.stringify(channel)}: ${messageOf(options.cause)}`, options);
  }
}
