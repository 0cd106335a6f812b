import type { ClientConfig } from 'pg';
import { BehaviorSubject, defer, Observable, Subject, throwError, timer, type ObservableInput, type Subscription } from 'rxjs';
import { retry } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { NotifierError } from '../errors/notifier-error.js';
import { QueueUsageWarning } from '../errors/queue-usage-warning.js';
import { pgNotifyQuery } from '../payload/serialize.js';
import { ArrayMulticast } from '../routing/array-multicast.js';
import { checkConnectionConfig } from './check-connection-config.js';
import { backoffDelay, defaultReconnectOptions, type ReconnectOptions, type ResolvedReconnectOptions } from './backoff.js';
import type { NotificationSource, RawNotification, SourceState } from './notification-source.js';
import { pgListenSession, type PgSession } from './pg-listen-session.js';
import { Sender } from './sender.js';
import type { ServerStatus } from './server-status.js';

/** The longest delay Node's timers honour; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * How long a session must stay up to count as healthy, which resets the backoff. A session
 * doomed by the server (a standby refusing LISTEN, a pooler, a timeout the role imposes, a
 * process that kills every new backend) dies within a round trip or a few seconds; resetting
 * the backoff on every successful connect let such a loop reconnect ~12 times a second forever.
 * 10 s is at least the default longest backoff (`maxDelayMs`) and the default heartbeat
 * interval, so a session counted healthy has lived longer than any wait between attempts and
 * has answered or been due a ping.
 */
const HEALTHY_AFTER_MS = 10_000;

/** Above this share of the notification queue, a QueueUsageWarning is reported once. */
const QUEUE_WARNING_USAGE = 0.5;

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
  /**
   * How long `notify()` may take, in milliseconds: connecting (or waiting for a free sending
   * connection) and the server's answer each get this long; then the promise rejects with a
   * {@link ConnectionError}.
   * @defaultValue 10000
   */
  readonly notifyTimeoutMs?: number;
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
  readonly #notifyTimeoutMs: number;
  readonly #errors = new Subject<NotifierError>();
  #queueUsage: number | undefined;
  #queueWarned = false;
  // Not a Subject: every notification passes here, and RxJS 7's Subject.next allocates a closure
  // and an iterator per call (see ArrayMulticast).
  readonly #notifications = new ArrayMulticast<RawNotification>();
  readonly #state = new BehaviorSubject<SourceState>({ status: 'idle' });
  readonly #closing = new Set<Promise<void>>();
  #run: Subscription | undefined;
  #session: PgSession | undefined;
  #sessions = 0;
  #sender: Sender | undefined;
  #disposed = false;

  readonly notifications$ = new Observable<RawNotification>((subscriber) => this.#notifications.subscribe(subscriber));
  readonly state$: Observable<SourceState> = this.#state.asObservable();
  /** `QueueUsageWarning`s; connection problems go to `state$`. */
  readonly errors$: Observable<NotifierError> = this.#errors.asObservable();

  /**
   * @param config - a connection string or a pg `ClientConfig` (pg's `PG*` environment
   * variables fill in what is missing).
   * @throws {@link InvalidArgumentError} for an option out of range, or a connection config that
   * can never work (a bad port, a NUL character, a timeout the server refuses; see
   * `checkConnectionConfig`), so every attempt would fail the same way.
   */
  constructor(config: string | ClientConfig = {}, options: PgListenSourceOptions = {}) {
    this.#config = typeof config === 'string' ? { connectionString: config } : { ...config };
    this.#reconnect = {
      initialDelayMs: duration(options.reconnect?.initialDelayMs, 'reconnect.initialDelayMs', defaultReconnectOptions.initialDelayMs),
      maxDelayMs: duration(options.reconnect?.maxDelayMs, 'reconnect.maxDelayMs', defaultReconnectOptions.maxDelayMs),
    };
    this.#heartbeatIntervalMs = duration(options.heartbeatIntervalMs, 'heartbeatIntervalMs', 10_000, true);
    this.#heartbeatTimeoutMs = duration(options.heartbeatTimeoutMs, 'heartbeatTimeoutMs', 5_000);
    this.#notifyTimeoutMs = duration(options.notifyTimeoutMs, 'notifyTimeoutMs', 10_000);
    checkConnectionConfig(this.#config, { listens: true });
  }

  /** The listening backend's pid and the queue usage seen at the last heartbeat. */
  server(): ServerStatus | undefined {
    const pid = this.#session?.pid;
    if (pid === undefined && this.#queueUsage === undefined) return undefined;
    return { ...(pid === undefined ? {} : { pid }), ...(this.#queueUsage === undefined ? {} : { queueUsage: this.#queueUsage }) };
  }

  start(): void {
    if (this.#run !== undefined || this.#disposed) return;
    let connectedBefore = false;
    // The backoff grows across sessions that die young (see HEALTHY_AFTER_MS) and starts over
    // only after a session that stayed up.
    let failures = 0;
    let upSince: number | undefined;
    this.#state.next({ status: 'connecting', attempt: 1 });
    this.#run = defer(() =>
      pgListenSession({
        config: { fallback_application_name: 'pgnotifier', ...this.#config },
        heartbeatIntervalMs: this.#heartbeatIntervalMs,
        heartbeatTimeoutMs: this.#heartbeatTimeoutMs,
        onNotification: (notification) => {
          this.#notifications.next(notification);
        },
        onClosing: (closed) => {
          this.#closing.add(closed);
          void closed.finally(() => this.#closing.delete(closed));
        },
        onQueueUsage: (usage) => {
          this.#onQueueUsage(usage);
        },
      }),
    )
      .pipe(
        retry({
          delay: (error: Error) => {
            this.#session = undefined;
            const healthy = upSince !== undefined && Date.now() - upSince >= HEALTHY_AFTER_MS;
            upSince = undefined;
            failures = healthy ? 1 : failures + 1;
            this.#state.next({
              status: connectedBefore ? 'reconnecting' : 'connecting',
              attempt: connectedBefore ? failures : failures + 1,
              error,
            });
            return timer(backoffDelay(failures, this.#reconnect));
          },
        }),
      )
      .subscribe((session) => {
        connectedBefore = true;
        upSince = Date.now();
        this.#session = session;
        const { pid } = session;
        this.#state.next({ status: 'connected', session: ++this.#sessions, ...(pid === undefined ? {} : { pid }) });
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
    // Sending uses its own small pool (see Sender).
    this.#sender ??= new Sender(this.#config, this.#notifyTimeoutMs);
    await this.#sender.query(pgNotifyQuery(channel, payload));
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    // The sender first: its pending sends are rejected at once rather than after the listener.
    const sender = this.#sender;
    this.#sender = undefined;
    await Promise.all([sender?.end(), this.stop()]);
    this.#notifications.complete();
    this.#state.complete();
    this.#errors.complete();
  }

  // Once per crossing: warned above the mark, re-armed once usage falls back below it.
  #onQueueUsage(usage: number): void {
    this.#queueUsage = usage;
    if (usage > QUEUE_WARNING_USAGE && !this.#queueWarned) {
      this.#queueWarned = true;
      this.#errors.next(new QueueUsageWarning(usage));
    } else if (usage <= QUEUE_WARNING_USAGE) {
      this.#queueWarned = false;
    }
  }
}

function notConnected(): Observable<never> {
  return throwError(() => new ConnectionError('Not connected'));
}

/** A number of milliseconds that Node's timers honour (they turn anything above 2^31 - 1 into 1 ms). */
function duration(value: number | undefined, name: string, fallback: number, zeroAllowed = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed) || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(
      `${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number of milliseconds up to ${String(MAX_TIMER_MS)}, got ${String(value)}`,
    );
  }
  return value;
}
