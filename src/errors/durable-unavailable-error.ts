import { NotifierError } from './notifier-error.js';

/**
 * Thrown synchronously by a durable call (`install`, `publish`, `channel$(…, { durable: true })`,
 * `subscribe(…, { durable: true })`, `unsubscribe(…, { forget: true })`) on a notifier whose
 * source has no durable part, e.g. a `MemorySource` given none. Nothing is changed.
 */
export class DurableUnavailableError extends NotifierError {
  /** `'DurableUnavailableError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'DurableUnavailableError' as const;

  constructor(
    /** The method that needed durable channels. */
    readonly method: string,
  ) {
    super(
      `${method}: durable channels are not available on this notifier (its source has no durable part; ` +
        'give a PostgreSQL connection, or a source with `durable`)',
    );
  }
}
