import { ConnectionError } from './connection-error.js';

/**
 * The listening connection reached a read-only hot standby, where PostgreSQL refuses LISTEN.
 * Reported on `errors$` and in `state$`; the notifier keeps retrying with growing backoff (a
 * failover may promote this server, or the address may move to the primary). Point the notifier
 * at the primary (e.g. `target_session_attrs=read-write` with several hosts).
 */
export class StandbyError extends ConnectionError {
  /** `'StandbyError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'StandbyError' as const;

  constructor(options?: { cause: unknown }) {
    super('Connected to a read-only standby; LISTEN needs the primary', { cause: options?.cause, code: '25006' });
  }
}
