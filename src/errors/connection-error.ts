import { messageOf } from './message-of.js';
import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` (and carried in `state$`) when the listening connection fails: a connect
 * attempt refused, a connection lost, a heartbeat left unanswered, a LISTEN the server refused.
 * Never fatal: the notifier reconnects with backoff and LISTENs again.
 */
export class ConnectionError extends NotifierError {
  /**
   * `'ConnectionError'`, or the name of the subclass that says more (a standby, a transaction
   * pooler): survives serialisation and module copies, where `instanceof` does not.
   */
  override readonly name: 'ConnectionError' | 'StandbyError' | 'TransactionPoolerError' = 'ConnectionError';

  /**
   * The server's SQLSTATE when the server said why (e.g. `'57P01'`: terminated by an
   * administrator; `'57P05'`: idle-session timeout; `'57P02'`/`'57P03'`: shutdown or crash
   * recovery; `'25006'`: read-only standby), or the socket's error code (`'ECONNREFUSED'`,
   * `'ECONNRESET'`, …); absent when neither is known (e.g. a heartbeat timeout).
   */
  readonly code?: string;

  /**
   * @param message - what happened.
   * @param options - `cause`: the underlying error; `explain`: append its message (for causes
   * worth reading, such as ECONNREFUSED, not for pg-listen's internal retry wording); `code`: the
   * SQLSTATE or socket error code (taken from `cause` when not given).
   */
  constructor(message: string, options?: { cause: unknown; explain?: boolean; code?: string }) {
    super(options?.explain === true ? `${message}: ${messageOf(options.cause)}` : message, options && { cause: options.cause });
    const code = options?.code ?? codeOf(options?.cause);
    if (code !== undefined) this.code = code;
  }
}

function codeOf(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const { code } = cause as { code?: unknown };
  return typeof code === 'string' && code !== '' ? code : undefined;
}
