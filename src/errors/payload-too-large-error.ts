import { NotifierError } from './notifier-error.js';

/**
 * Thrown synchronously by `notify` and `notifyQuery` when the serialised payload would be refused
 * by PostgreSQL: it must be shorter than 8000 bytes in UTF-8. Nothing is sent.
 */
export class PayloadTooLargeError extends NotifierError {
  /** `'PayloadTooLargeError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'PayloadTooLargeError' as const;

  constructor(
    /** The channel the payload was meant for. */
    readonly channel: string,
    /** The size of the serialised payload in UTF-8 bytes. */
    readonly bytes: number,
    /** The largest size PostgreSQL accepts. */
    readonly limit: number,
  ) {
    super(
      `Payload for channel ${JSON.stringify(channel)} is ${bytes} bytes; PostgreSQL accepts at most ${limit}. ` +
        'Send a key and keep the data in a table.',
    );
  }
}
