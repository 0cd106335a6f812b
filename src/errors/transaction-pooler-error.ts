import { ConnectionError } from './connection-error.js';

/**
 * The listening connection goes through a connection pooler in transaction mode (PgBouncer,
 * Supavisor, PgCat): LISTEN appears to succeed there, but notifications are never delivered,
 * because the server session that LISTENs is handed to other clients between transactions.
 * Connect the notifier directly to PostgreSQL, or through the pooler's session mode (e.g.
 * PgBouncer `pool_mode = session`, Supavisor's session port 5432).
 */
export class TransactionPoolerError extends ConnectionError {
  /** `'TransactionPoolerError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'TransactionPoolerError' as const;

  constructor() {
    super(
      'The listening connection goes through a pooler in transaction mode, where LISTEN never delivers: ' +
        'connect directly to PostgreSQL or through a session-mode pool',
      { cause: undefined, code: 'POOLER' },
    );
  }
}
