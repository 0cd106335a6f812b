import { NotifierError } from './notifier-error.js';

/**
 * Thrown synchronously when a method names a channel that is not registered (muting, unmuting,
 * unsubscribing from or asking about it). Unknown channels are never created implicitly by these
 * methods, unlike the Python original's phantom entries.
 */
export class UnknownChannelError extends NotifierError {
  /** `'UnknownChannelError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'UnknownChannelError' as const;

  constructor(
    /** The channel that is not registered. */
    readonly channel: string,
  ) {
    super(`Unknown channel ${JSON.stringify(channel)}: add it or subscribe to it first`);
  }
}
