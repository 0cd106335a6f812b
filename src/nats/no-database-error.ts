import { NotifierError } from '../errors/notifier-error.js';

/**
 * Thrown by `notify()` / `publish()` on a notifier fed by NATS when its {@link NatsSource} was
 * given no PostgreSQL `connection`: notifications are sent through PostgreSQL (the relay carries
 * them to NATS), never straight into NATS. Nothing was sent.
 */
export class NoDatabaseError extends NotifierError {
  /** `'NoDatabaseError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name: string = 'NoDatabaseError';

  /** @param what - the call that needs PostgreSQL, e.g. `'notify()'`. */
  constructor(what: string) {
    super(
      `${what} needs PostgreSQL: a NatsSource only receives. Give it a connection (new NatsSource({ servers, connection: DATABASE_URL })) to send through PostgreSQL, which the relay carries to NATS`,
    );
  }
}
