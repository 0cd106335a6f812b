import type { ClientConfig } from 'pg';
import pg from 'pg';
import { BehaviorSubject, defer, throwError, timer, type Observable, type ObservableInput, type Subscription } from 'rxjs';
import { retry } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { pgNotifyQuery } from '../payload/serialize.js';
import { HotStream } from '../shared/hot-stream.js';
import { backoffDelay, defaultReconnectOptions, type ReconnectOptions, type ResolvedReconnectOptions } from './backoff.js';
import type { NotificationSource, RawNotification, SourceState } from './notification-source.js';
import { pgListenSession, type PgSession } from './pg-listen-session.js';

/** Options of {@link PgListenSource}; the same names are accepted by `new Notifier(config, options)`. */
export interface PgListenSourceOptions {
  /** Reconnect backoff. Retries never stop. */
  readonly reconnect?: ReconnectOptions;
  /**
   * How often the listening connection is pinged, in milliseconds; `0` turns the heartbeat off
   * (not advised: a half-open connection then goes unnoticed until TCP keepalive gives up).
   * @defaultValue 10000
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * How long a ping may go unanswered, with nothing else arriving, before the connection is
   * replaced, in milliseconds. A dead connection is found within
   * `heartbeatIntervalMs + heartbeatTimeoutMs`.
   * @defaultValue 5000
   */
  readonly heartbeatTimeoutMs?: number;
}

/**
 * The production {@link NotificationSource}: one pg-listen connection carries every channel.
 *
 * What it adds around pg-listen: retries forever with jittered exponential backoff (the first
 * connect included; pg-listen gives up after 3 s and never retries a first connect), a heartbeat
 * with a timeout (pg-listen's check has none), shutdown that cancels timers and connects in
 * flight (pg-listen keeps reconnecting after `close()`), and a separate pool for sending.
 */
export class PgListenSource implements NotificationSource {
  readonly #config: ClientConfig;
  readonly #reconnect: ResolvedReconnectOptions;
  readonly #heartbeatIntervalMs: number;
  readonly #heartbeatTimeoutMs: number;
  readonly #notifications = new HotStream<RawNotification>();
  readonly #state = new BehaviorSubject<SourceState>({ status: 'idle' });
  readonly #closing = new Set<Promise<void>>();
  #run: Subscription | undefined;
  #session: PgSession | undefined;
  #sessions = 0;
  #sender: pg.Pool | undefined;

  readonly notifications$: Observable<RawNotification> = this.#notifications.observable;
  readonly state$: Observable<SourceState> = this.#state.asObservable();

  /**
   * @param config - a connection string or a pg `ClientConfig` (pg's `PG*` environment
   * variables fill in what is missing).
   */
  constructor(config: string | ClientConfig = {}, options: PgListenSourceOptions = {}) {
    this.#config = typeof config === 'string' ? { connectionString: config } : { ...config };
    this.#reconnect = {
      initialDelayMs: positive(options.reconnect?.initialDelayMs, 'reconnect.initialDelayMs', defaultReconnectOptions.initialDelayMs),
      maxDelayMs: positive(options.reconnect?.maxDelayMs, 'reconnect.maxDelayMs', defaultReconnectOptions.maxDelayMs),
    };
    this.#heartbeatIntervalMs = positive(options.heartbeatIntervalMs, 'heartbeatIntervalMs', 10_000, true);
    this.#heartbeatTimeoutMs = positive(options.heartbeatTimeoutMs, 'heartbeatTimeoutMs', 5_000);
  }

  start(): void {
    if (this.#run !== undefined) return;
    let connectedBefore = false;
    this.#state.next({ status: 'connecting', attempt: 1 });
    this.#run = defer(() =>
      pgListenSession({
        config: this.#config,
        heartbeatIntervalMs: this.#heartbeatIntervalMs,
        heartbeatTimeoutMs: this.#heartbeatTimeoutMs,
        onNotification: (notification) => {
          this.#notifications.next(notification);
        },
        onClosing: (closed) => {
          this.#closing.add(closed);
          void closed.finally(() => this.#closing.delete(closed));
        },
      }),
    )
      .pipe(
        retry({
          resetOnSuccess: true,
          delay: (error: Error, retryCount: number) => {
            this.#session = undefined;
            this.#state.next({
              status: connectedBefore ? 'reconnecting' : 'connecting',
              attempt: connectedBefore ? retryCount : retryCount + 1,
              error,
            });
            return timer(backoffDelay(retryCount, this.#reconnect));
          },
        }),
      )
      .subscribe((session) => {
        connectedBefore = true;
        this.#session = session;
        this.#state.next({ status: 'connected', session: ++this.#sessions });
      });
  }

  async stop(): Promise<void> {
    this.#run?.unsubscribe();
    this.#run = undefined;
    this.#session = undefined;
    if (this.#state.getValue().status !== 'stopped') this.#state.next({ status: 'stopped' });
    await Promise.all(this.#closing);
  }

  recycle(reason: Error): void {
    this.#session?.fail(reason);
  }

  listen(channel: string): ObservableInput<unknown> {
    return this.#session?.listen(channel) ?? notConnected();
  }

  unlisten(channel: string): ObservableInput<unknown> {
    return this.#session?.unlisten(channel) ?? notConnected();
  }

  async send(channel: string, payload: string): Promise<void> {
    // Sending uses its own small pool: the listening connection may be reconnecting, and a
    // session that NOTIFYs inside a long transaction would hold back its own deliveries.
    this.#sender ??= createSender(this.#config);
    await this.#sender.query(pgNotifyQuery(channel, payload));
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.#notifications.complete();
    this.#state.complete();
    const sender = this.#sender;
    this.#sender = undefined;
    await sender?.end();
  }
}

function createSender(config: ClientConfig): pg.Pool {
  const pool = new pg.Pool({ ...config, max: 2, idleTimeoutMillis: 5_000, allowExitOnIdle: true });
  // An idle pooled client that loses its connection emits 'error' on the pool; the next query
  // gets a fresh client, so there is nothing to do but not crash.
  pool.on('error', () => undefined);
  return pool;
}

function notConnected(): Observable<never> {
  return throwError(() => new ConnectionError('Not connected'));
}

function positive(value: number | undefined, name: string, fallback: number, zeroAllowed = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
    throw new InvalidArgumentError(
      `${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number of milliseconds, got ${String(value)}`,
    );
  }
  return value;
}
