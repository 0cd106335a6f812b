import type { SubscriberId } from '../types.js';
import { NotifierError } from './notifier-error.js';

/**
 * Thrown synchronously when a subscriber id is not subscribed (at all, or to the named channel)
 * and the method would need it to be: `unsubscribe`, `muteSubscriber`, `unmuteSubscriber`.
 */
export class UnknownSubscriberError extends NotifierError {
  /** `'UnknownSubscriberError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'UnknownSubscriberError' as const;

  constructor(
    /** The subscriber id that was not found. */
    readonly id: SubscriberId,
    /** The channel it was looked for on, when one was named. */
    readonly channel?: string,
  ) {
    super(
      channel === undefined
        ? `Unknown subscriber ${JSON.stringify(id)}`
        : `Subscriber ${JSON.stringify(id)} is not subscribed to channel ${JSON.stringify(channel)}`,
    );
  }
}
