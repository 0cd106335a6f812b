import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { ClientConfig } from 'pg';
import pg from 'pg';

import { ConnectionError } from '../errors/connection-error.js';
import { NotifierClosedError } from '../errors/notifier-closed-error.js';
import { NotifierError } from '../errors/notifier-error.js';
import { SESSION_SETTINGS_SQL } from './session-settings.js';

/** How long `close()` lets the sending connections say goodbye before destroying their sockets. */
const END_GRACE_MS = 2_000;

/**
 * The small pool `notify()` sends through, apart from the listening connection (which may be
 * reconnecting, and whose own NOTIFYs inside a long transaction would hold back its deliveries).
 *
 * Every send is bounded: pg's connect and query timeouts, and above them a timer of our own that
 * also covers a pool waiting for a free client. `end()` settles within a bounded time whatever is
 * in flight: it rejects pending sends with {@link NotifierClosedError} and destroys the sockets
 * (a half-open one would otherwise keep the process alive for the length of TCP's retries).
 */
export class Sender {
  readonly #pool: pg.Pool;
  readonly #timeoutMs: number;
  readonly #sockets = new Set<Duplex>();
  readonly #pending = new Set<(error: Error) => void>();
  readonly #prepared = new WeakSet<pg.PoolClient>();
  #ended = false;
  /** Sends under way, settled either way: `end()` waits for them within its grace. */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(config: ClientConfig, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    const userStream = config.stream;
    this.#pool = new pg.Pool({
      ...config,
      // Its own name, so the sending sessions can be told from the listening one in
      // pg_stat_activity (and a script that counts or terminates one does not hit the other).
      application_name: `${applicationName(config)}:notify`,
      max: 2,
      idleTimeoutMillis: 5_000,
      allowExitOnIdle: true,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      stream: () => {
        const socket = (typeof userStream === 'function' ? userStream() : undefined) ?? new Socket();
        // As for the listening connection: pg listens for errors only once connect() returned.
        socket.on('error', () => undefined);
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        return socket;
      },
    });
    // An idle pooled client that loses its connection emits 'error' on the pool; the next query
    // gets a fresh client, so there is nothing to do but not crash.
    this.#pool.on('error', () => undefined);
  }

  // The role's or database's timeouts must not end a pooled session between two sends: each new
  // client gets the settings before its first query.
  async #run(query: pg.QueryConfig): Promise<void> {
    const client = await this.#pool.connect();
    try {
      if (!this.#prepared.has(client)) {
        // A client in use that loses its socket (end() destroys them) reports it through the
        // query; its 'error' event must not crash the process.
        client.on('error', () => undefined);
        this.#prepared.add(client);
        // Best effort: a pooler that refuses it still sends.
        await client.query(SESSION_SETTINGS_SQL).catch(() => undefined);
      }
      await client.query(query);
      client.release();
    } catch (error) {
      // A failed client is not reused: the next send gets a fresh connection.
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }

  /** Runs one query; rejects after the timeout, or with {@link NotifierClosedError} on `end()`. */
  async query(query: pg.QueryConfig): Promise<void> {
    if (this.#ended) throw new NotifierClosedError('notify');
    let reject: (error: Error) => void = () => undefined;
    const cancelled = new Promise<never>((_, rejectWith) => {
      reject = rejectWith;
    });
    const timer = setTimeout(() => {
      reject(new ConnectionError(`notify() got no answer from the server within ${String(this.#timeoutMs)} ms`));
    }, this.#timeoutMs + 1_000);
    this.#pending.add(reject);
    const run = this.#run(query);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(settled);
    void settled.finally(() => this.#inFlight.delete(settled));
    try {
      await Promise.race([run, cancelled]);
    } catch (error) {
      // The server's own errors (they carry a severity) are the caller's; the rest is the connection.
      if (typeof error === 'object' && error !== null && 'severity' in error) throw error;
      if (error instanceof NotifierError) throw error;
      throw new ConnectionError('notify() failed', { cause: error, explain: true });
    } finally {
      clearTimeout(timer);
      this.#pending.delete(reject);
    }
  }

  /**
   * Ends the pool within a bounded time. Sends already under way get the grace to be answered (a
   * NOTIFY the server took resolves, rather than reject although it was delivered); what is still
   * pending after it is rejected with {@link NotifierClosedError}.
   */
  async end(): Promise<void> {
    this.#ended = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, END_GRACE_MS);
    });
    await Promise.race([Promise.all(this.#inFlight), grace]);
    for (const reject of this.#pending) reject(new NotifierClosedError('notify'));
    this.#pending.clear();
    await Promise.race([this.#pool.end().catch(() => undefined), grace]);
    clearTimeout(timer);
    for (const socket of this.#sockets) socket.destroy();
  }
}

/** The listener's application_name as pg would send it (config, then PGAPPNAME), or `pgnotifier`. */
function applicationName(config: ClientConfig): string {
  // A never-connected client reads the connection string and the environment as pg would.
  const own = (new pg.Client(config) as unknown as { connectionParameters: { application_name?: string } }).connectionParameters
    .application_name;
  return own === undefined || own === '' ? 'pgnotifier' : own;
}
