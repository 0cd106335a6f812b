import { BehaviorSubject, defer, EMPTY, from, Observable, Subject, throwError, type ObservableInput } from 'rxjs';
import { ignoreElements, tap } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import { ArrayMulticast } from '../routing/array-multicast.js';
import type { NotificationSource, RawNotification, SourceState } from './notification-source.js';

/** Options of {@link MemorySource}. */
export interface MemorySourceOptions {
  /**
   * How long the "server" takes to acknowledge a LISTEN or UNLISTEN: an Observable whose
   * completion is the acknowledgement (e.g. `timer(5)`, or `cold('--|')` in a marble test).
   * @defaultValue acknowledged at once
   */
  readonly latency?: () => ObservableInput<unknown>;
}

/**
 * A {@link NotificationSource} in memory: no database, fully synchronous unless given a latency,
 * so the notifier's pipelines run under RxJS virtual time. It behaves like one server session:
 * {@link MemorySource.deliver} reaches only LISTENed channels, a new session starts with none.
 *
 * @example
 * ```ts
 * import { MemorySource, Notifier } from 'pgnotifier';
 *
 * const source = new MemorySource();
 * const notifier = new Notifier(source);
 * notifier.channel$('jobs').subscribe((n) => console.log(n.payload));
 * source.deliver('jobs', '{"id":1}');
 * // Logs: { id: 1 }
 * ```
 */
export class MemorySource implements NotificationSource {
  // An ArrayMulticast, as in PgListenSource, so that what is measured in memory is the same path.
  readonly #notifications = new ArrayMulticast<RawNotification>();
  readonly #state = new BehaviorSubject<SourceState>({ status: 'idle' });
  readonly #commands = new Subject<string>();
  readonly #listening = new Set<string>();
  readonly #latency: (() => ObservableInput<unknown>) | undefined;
  #sessions = 0;

  readonly notifications$ = new Observable<RawNotification>((subscriber) => this.#notifications.subscribe(subscriber));
  readonly state$: Observable<SourceState> = this.#state.asObservable();
  /** Every acknowledged `LISTEN <channel>` and `UNLISTEN <channel>`, as it happens. */
  readonly commands$: Observable<string> = this.#commands.asObservable();

  constructor(options: MemorySourceOptions = {}) {
    this.#latency = options.latency;
  }

  /** The channels LISTENed on the current session. */
  listening(): string[] {
    return [...this.#listening];
  }

  /** A notification from the "server": delivered when `channel` is LISTENed, like PostgreSQL. */
  deliver(channel: string, payload: string, pid = 1): void {
    if (this.#listening.has(channel)) this.#notifications.next({ channel, payload, pid });
  }

  /** Pushes a notification whether or not it is LISTENed, as one already in flight would arrive. */
  inject(channel: string, payload: string, pid = 1): void {
    this.#notifications.next({ channel, payload, pid });
  }

  /** Loses the current session and opens a new one with nothing LISTENed, like a reconnect. */
  drop(error: Error = new ConnectionError('connection lost')): void {
    if (this.#state.getValue().status !== 'connected') return;
    this.#listening.clear();
    this.#state.next({ status: 'reconnecting', attempt: 1, error });
    this.#connect();
  }

  start(): void {
    const { status } = this.#state.getValue();
    if (status === 'connected' || status === 'closed') return;
    this.#state.next({ status: 'connecting', attempt: 1 });
    this.#connect();
  }

  stop(): Promise<void> {
    this.#listening.clear();
    if (this.#state.getValue().status !== 'stopped') this.#state.next({ status: 'stopped' });
    return Promise.resolve();
  }

  recycle(reason: Error): void {
    this.drop(reason);
  }

  listen(channel: string): ObservableInput<unknown> {
    return this.#command('LISTEN', channel, () => this.#listening.add(channel));
  }

  unlisten(channel: string): ObservableInput<unknown> {
    return this.#command('UNLISTEN', channel, () => this.#listening.delete(channel));
  }

  send(channel: string, payload: string): Promise<void> {
    this.deliver(channel, payload, 0);
    return Promise.resolve();
  }

  dispose(): Promise<void> {
    this.#listening.clear();
    this.#notifications.complete();
    this.#state.complete();
    this.#commands.complete();
    return Promise.resolve();
  }

  #connect(): void {
    this.#state.next({ status: 'connected', session: ++this.#sessions });
  }

  #command(verb: string, channel: string, apply: () => void): Observable<never> {
    const session = this.#sessions;
    return defer(() => {
      if (this.#state.getValue().status !== 'connected') return throwError(() => new ConnectionError('Not connected'));
      const acknowledged = () => {
        // An acknowledgement from a session that has since been lost counts for nothing.
        if (session !== this.#sessions || this.#state.getValue().status !== 'connected') throw new ConnectionError('Connection lost');
        apply();
        this.#commands.next(`${verb} ${channel}`);
      };
      const wait = this.#latency ? this.#latency() : EMPTY;
      return from(wait).pipe(ignoreElements(), tap({ complete: acknowledged }));
    });
  }
}
