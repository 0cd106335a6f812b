import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` by a durable reader or consumer whose position lies behind messages that
 * retention has already deleted: the messages it had not read yet are gone. The reader then
 * continues with the oldest retained message; nothing else is skipped.
 */
export class ReplayGapError extends NotifierError {
  /** `'ReplayGapError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'ReplayGapError' as const;

  constructor(
    /** The durable channel whose messages were lost. */
    readonly channel: string,
    /**
     * How many messages of the channel were deleted before this reader read them, when that is
     * knowable (a stored consumer, counted when the pruning happened); `undefined` otherwise.
     */
    readonly lost: number | undefined,
    /** The consumer whose position was pruned away; `undefined` for a reader without one. */
    readonly consumer?: string,
  ) {
    super(
      `${consumer === undefined ? 'A reader' : `Consumer ${JSON.stringify(consumer)}`} of durable channel ${JSON.stringify(channel)} ` +
        `was behind the retained messages: ${lost === undefined ? 'an unknown number of' : String(lost)} message(s) were pruned before ` +
        'it read them; it continues with the oldest retained message.',
    );
  }
}
