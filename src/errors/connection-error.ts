import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` (and carried in `state$`) when the listening connection fails: a connect
 * attempt refused, a connection lost, a heartbeat left unanswered, a LISTEN the server refused.
 * Never fatal: the notifier reconnects with backoff and LISTENs again.
 */
export class ConnectionError extends NotifierError {
  override readonly name: string = 'ConnectionError';

  constructor(message: string, options?: { cause: unknown }) {
    super(options && options.cause instanceof Error ? `${message}: ${options.cause.message}` : message, options);
  }
}
