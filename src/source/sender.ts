import type { ClientConfig } from 'pg';
import pg from 'pg';

import { BoundedPool } from './bounded-pool.js';

/**
 * The small pool `notify()` sends through, apart from the listening connection (which may be
 * reconnecting, and whose own NOTIFYs inside a long transaction would hold back its deliveries).
 *
 * Every send is bounded (a {@link BoundedPool}): pg's connect and query timeouts, and above them a
 * timer of our own that also covers a pool waiting for a free client. `end()` settles within a
 * bounded time whatever is in flight: it rejects pending sends with `NotifierClosedError` and
 * destroys the sockets.
 */
export class Sender {
  readonly #pool: BoundedPool;

  constructor(config: ClientConfig, timeoutMs: number) {
    this.#pool = new BoundedPool(
      {
        ...config,
        // Its own name, so the sending sessions can be told from the listening one in
        // pg_stat_activity (and a script that counts or terminates one does not hit the other).
        application_name: `${applicationName(config)}:notify`,
      },
      {
        method: 'notify',
        max: 2,
        idleTimeoutMs: 5_000,
        allowExitOnIdle: true,
        connectTimeoutMs: timeoutMs,
        queryTimeoutMs: timeoutMs,
        deadlineMs: timeoutMs + 1_000,
      },
    );
    // An idle pooled client that loses its connection emits 'error' on the pool; the next query
    // gets a fresh client, so there is nothing to do but not crash.
    this.#pool.onIdleError(() => undefined);
  }

  /** Runs one query; rejects after the timeout, or with `NotifierClosedError` on `end()`. */
  async query(query: pg.QueryConfig): Promise<void> {
    await this.#pool.query(query);
  }

  /**
   * Ends the pool within a bounded time. Sends already under way get the grace to be answered (a
   * NOTIFY the server took resolves, rather than reject although it was delivered); what is still
   * pending after it is rejected with `NotifierClosedError`.
   */
  end(): Promise<void> {
    return this.#pool.end();
  }
}

/** The listener's application_name as pg would send it (config, then PGAPPNAME), or `pgnotifier`. */
function applicationName(config: ClientConfig): string {
  // A never-connected client reads the connection string and the environment as pg would.
  const own = (new pg.Client(config) as unknown as { connectionParameters: { application_name?: string } }).connectionParameters
    .application_name;
  return own === undefined || own === '' ? 'pgnotifier' : own;
}
