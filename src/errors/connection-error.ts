import { messageOf } from './message-of.js';
import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` (and carried in `state$`) when the listening connection fails: a connect
 * attempt refused, a connection lost, a heartbeat left unanswered, a LISTEN the server refused.
 * Never fatal: the notifier reconnects with backoff and LISTENs again.
 */
export class ConnectionError extends NotifierError {
  /** `'ConnectionError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'ConnectionError' as const;

  /**
   * @param message - what happened.
   * @param options - `cause`: the underlying error; `explain`: append its message (for causes
   * worth reading, such as ECONNREFUSED, not for pg-listen's internal retry wording).
   */
  constructor(message: string, options?: { cause: unknown; explain?: boolean }) {
    super(options?.explain === true ? `${message}: ${messageOf(options.cause)}` : message, options && { cause: options.cause });
  }
}
