import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { ClientConfig } from 'pg';
import pg from 'pg';

import { ConnectionError } from '../errors/connection-error.js';
import { NotifierClosedError } from '../errors/notifier-closed-error.js';
import { NotifierError } from '../errors/notifier-error.js';
import { SESSION_SETTINGS_SQL } from './session-settings.js';

/** How long `end()` lets the queries under way finish before rejecting them and destroying the sockets. */
export const END_GRACE_MS = 2_000;

/** Options of {@link BoundedPool}. */
export interface BoundedPoolOptions {
  /** The method whose calls fail in errors, e.g. `'notify'` (each call may name its own). */
  readonly method: string;
  readonly max: number;
  /** Bounds opening a connection (TCP and startup) with a server that accepts but never answers. */
  readonly connectTimeoutMs: number;
  /** Bounds each query, from the moment a client runs it; a connection that timed out is dropped. */
  readonly queryTimeoutMs: number;
  /**
   * When set, a timer of our own over the whole call, waiting for a free client included, and
   * pg's wait for a free client is bounded by `connectTimeoutMs` too. Unset: waiting for a client
   * is bounded only by the queries ahead (each bounded), so a busy pool never fails a caller.
   */
  readonly deadlineMs?: number;
  readonly idleTimeoutMs?: number;
  readonly allowExitOnIdle?: boolean;
}

/** One client of {@link BoundedPool.withClient}: queries on the same session. */
export type BoundedQuery = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  query: string | pg.QueryConfig,
  values?: unknown[],
  timeoutMs?: number,
) => Promise<pg.QueryResult<R>>;

/**
 * A pg pool whose every call settles in bounded time: connect and query timeouts (a half-open
 * connection or a server that accepts and never answers fails the call instead of hanging it),
 * TCP keepalive, the role's or database's session timeouts turned off on each new session
 * (`SESSION_SETTINGS_SQL`), and an `end()` that settles within a grace whatever is in flight: it
 * rejects what is still pending with {@link NotifierClosedError} and destroys the sockets (a
 * half-open one would otherwise keep the process alive for the length of TCP's retries).
 */
export class BoundedPool {
  readonly #pool: pg.Pool;
  readonly #options: BoundedPoolOptions;
  readonly #sockets = new Set<Duplex>();
  readonly #pending = new Set<{ readonly reject: (error: Error) => void; readonly method: string }>();
  readonly #prepared = new WeakSet<pg.PoolClient>();
  /** Calls under way, settled either way: `end()` waits for them within its grace. */
  readonly #inFlight = new Set<Promise<void>>();
  #ended = false;

  /**
   * @param config - the pg config; `stream`, `keepAlive` and the timeouts are set here.
   * @param options - see {@link BoundedPoolOptions}.
   */
  constructor(config: ClientConfig, options: BoundedPoolOptions) {
    this.#options = options;
    const userStream = config.stream;
    const connectTimeoutMs = options.connectTimeoutMs;
    const clientConfig: ClientConfig = {
      ...config,
      // A half-open connection on which nothing is in flight is found by TCP keepalive.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: options.queryTimeoutMs,
      stream: () => {
        const socket = (typeof userStream === 'function' ? userStream() : undefined) ?? new Socket();
        // As for the listening connection: pg listens for errors only once connect() returned.
        socket.on('error', () => undefined);
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        return socket;
      },
    };
    this.#pool = new pg.Pool({
      ...clientConfig,
      max: options.max,
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMillis: options.idleTimeoutMs }),
      ...(options.allowExitOnIdle === undefined ? {} : { allowExitOnIdle: options.allowExitOnIdle }),
      // pg-pool bounds both opening a connection and waiting for a free client with this; without
      // a deadline only the former is bounded (below, on each client).
      ...(options.deadlineMs === undefined ? {} : { connectionTimeoutMillis: connectTimeoutMs }),
      // pg-pool constructs its clients with its own options: a client of our own gets the timeout.
      Client: class extends pg.Client {
        constructor(clientOptions?: ClientConfig) {
          const own: ClientConfig = { ...clientOptions, connectionTimeoutMillis: connectTimeoutMs };
          // pg-pool keeps the password non-enumerable (a spread drops it): carry it over as it is.
          if (clientOptions !== undefined && 'password' in clientOptions) {
            Object.defineProperty(own, 'password', {
              value: clientOptions.password,
              enumerable: false,
              writable: true,
              configurable: true,
            });
          }
          super(own);
        }
      },
    });
  }

  /** Where an idle pooled client that lost its connection reports (without a listener Node would throw). */
  onIdleError(listener: (error: Error) => void): void {
    this.#pool.on('error', listener);
  }

  /** Runs one query; rejects after the timeouts, or with {@link NotifierClosedError} on `end()`. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    query: string | pg.QueryConfig,
    values?: unknown[],
    method?: string,
  ): Promise<pg.QueryResult<R>> {
    return this.withClient((run) => run<R>(query, values), method);
  }

  /** Runs `use` with one client of the pool (a transaction, say), bounded as `query` is. */
  async withClient<T>(use: (query: BoundedQuery) => Promise<T>, method = this.#options.method): Promise<T> {
    const { deadlineMs, queryTimeoutMs } = this.#options;
    if (this.#ended) throw new NotifierClosedError(method);
    let reject: (error: Error) => void = () => undefined;
    const cancelled = new Promise<never>((_, rejectWith) => {
      reject = rejectWith;
    });
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(() => {
            reject(new ConnectionError(`${method}() got no answer from the server within ${String(deadlineMs)} ms`));
          }, deadlineMs);
    const pending = { reject, method };
    this.#pending.add(pending);
    const run = this.#run(use);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(settled);
    void settled.finally(() => this.#inFlight.delete(settled));
    try {
      return await Promise.race([run, cancelled]);
    } catch (error) {
      // The server's own errors (they carry a severity) are the caller's; the rest is the connection.
      if (typeof error === 'object' && error !== null && 'severity' in error) throw error;
      if (error instanceof NotifierError) throw error;
      if (isTimeout(error)) {
        throw new ConnectionError(`${method}() got no answer from the server within ${String(queryTimeoutMs)} ms`, { cause: error });
      }
      throw new ConnectionError(`${method}() failed`, { cause: error, explain: true });
    } finally {
      clearTimeout(timer);
      this.#pending.delete(pending);
    }
  }

  // The role's or database's timeouts must not end a pooled session between two calls: each new
  // client gets the settings before its first query.
  async #run<T>(use: (query: BoundedQuery) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      if (!this.#prepared.has(client)) {
        // A client in use that loses its socket (end() destroys them) reports it through the
        // query; its 'error' event must not crash the process.
        client.on('error', () => undefined);
        this.#prepared.add(client);
        // Best effort: a pooler that refuses it still works.
        await client.query(SESSION_SETTINGS_SQL).catch((error: unknown) => {
          if (isTimeout(error)) throw error;
        });
      }
      const result = await use(<R extends pg.QueryResultRow>(query: string | pg.QueryConfig, values?: unknown[], timeoutMs?: number) => {
        const config: pg.QueryConfig & { query_timeout?: number } = typeof query === 'string' ? { text: query } : { ...query };
        if (values !== undefined) config.values = values;
        // pg reads a per-query timeout from the query config (it is not in its types).
        if (timeoutMs !== undefined) config.query_timeout = timeoutMs;
        return client.query<R>(config);
      });
      client.release();
      return result;
    } catch (error) {
      // A failed client is not reused: the next call gets a fresh connection. One that timed out
      // may sit on a half-open socket, which ending it politely would not close.
      if (isTimeout(error)) socketOf(client)?.destroy();
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }

  /**
   * Ends the pool within a bounded time. Calls already under way get the grace to be answered
   * (a NOTIFY the server took resolves, rather than reject although it was delivered); what is
   * still pending after it is rejected with {@link NotifierClosedError}.
   */
  async end(graceMs = END_GRACE_MS): Promise<void> {
    this.#ended = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(this.#inFlight), grace]);
    for (const { reject, method } of this.#pending) reject(new NotifierClosedError(method));
    this.#pending.clear();
    await Promise.race([this.#pool.end().catch(() => undefined), grace]);
    clearTimeout(timer);
    for (const socket of this.#sockets) socket.destroy();
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

function socketOf(client: pg.PoolClient): Duplex | undefined {
  return (client as unknown as { connection?: { stream?: Duplex } }).connection?.stream;
}
