import {
  catchError,
  defer,
  EMPTY,
  endWith,
  filter,
  from,
  map,
  mergeAll,
  mergeMap,
  Subject,
  tap,
  throwError,
  type Observable,
  type Subscription,
} from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import type { NotifierError } from '../errors/notifier-error.js';
import { NotifierClosedError } from '../errors/notifier-closed-error.js';
import type { NotificationSource, SourceState } from '../source/notification-source.js';

/** What the reconciler needs of a channel: its name and whether it should be LISTENed. */
export interface ChannelDemand {
  /** The channel name. */
  readonly name: string;
  /** Whether it should be LISTENed now; completes when the channel is removed. */
  readonly wanted$: Observable<boolean>;
}

interface Waiter {
  /** The channels the waiter waits for; `undefined` for all of them. */
  readonly channels: readonly string[] | undefined;
  readonly resolve: () => void;
  /** Set for `start()`: closing the notifier rejects it rather than resolve it. */
  readonly reject?: ((error: Error) => void) | undefined;
}

/**
 * The only place that talks to the server about channels. Every channel's `wanted$` (mute state
 * and consumer count, see `Channel`) is merged into one stream here; the set of wanted channels is
 * brought in line with the set the server acknowledged on the current session by LISTEN and
 * UNLISTEN on the live connection, never by reconnecting.
 *
 * A change of `wanted$` marks its channel dirty; one batch at a time carries out what the dirty
 * channels need, all its commands sent together. A new session starts from nothing: every wanted
 * channel is dirty again. Changes made with `autorun: false` wait (deferred) for the next `start()`
 * or session.
 */
export class ListenReconciler {
  readonly #source: NotificationSource;
  readonly #wanted = new Set<string>();
  readonly #acknowledged = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #deferred = new Set<string>();
  readonly #inFlight = new Set<string>();
  /** Channels the server refused on this session (ChannelRefusedError): left alone until they change. */
  readonly #refused = new Set<string>();
  readonly #report: (error: NotifierError) => void;
  /** The current channel of each name: a removed channel's late completion must not count. */
  readonly #current = new Map<string, ChannelDemand>();
  readonly #resync = new Subject<void>();
  readonly #subscriptions: Subscription[] = [];
  #waiters: Waiter[] = [];
  #session: number | undefined;
  #running = false;
  #connectedBefore = false;
  #resyncDue = false;
  #batch: Subscription | undefined;
  #pumping = false;
  #pumpAgain = false;

  /**
   * False while an `autorun: false` change is applied: what it changes waits for the next
   * `start()` or session.
   */
  autorun = true;

  /** Emits once every channel is LISTENed again on a new session after an earlier one. */
  readonly resync$: Observable<void> = this.#resync.asObservable();

  /**
   * @param source - where LISTEN and UNLISTEN are sent.
   * @param channels$ - every channel as it is created.
   * @param report - where a channel the server refused is reported (`errors$`).
   */
  constructor(source: NotificationSource, channels$: Observable<ChannelDemand>, report: (error: NotifierError) => void) {
    this.#source = source;
    this.#report = report;
    this.#subscriptions.push(
      channels$
        .pipe(
          tap((channel) => this.#current.set(channel.name, channel)),
          // Each channel's mute + consumer state, merged; a removed channel is wanted no more.
          mergeMap((channel) =>
            channel.wanted$.pipe(
              map((wanted) => ({ channel, wanted, removed: false })),
              endWith({ channel, wanted: false, removed: true }),
            ),
          ),
          filter(({ channel }) => this.#current.get(channel.name) === channel),
        )
        .subscribe(({ channel, wanted, removed }) => {
          if (removed) this.#current.delete(channel.name);
          this.#setWanted(channel.name, wanted);
        }),
      source.state$.subscribe((state) => {
        this.#onState(state);
      }),
    );
  }

  /** The channels whose LISTEN the server acknowledged on the current session. */
  get acknowledged(): ReadonlySet<string> {
    return this.#acknowledged;
  }

  /**
   * Resolves once the server reflects what is wanted of `channels` (of every channel when none are
   * given): at once when the source is not running (the next start applies everything). Changes
   * made with `autorun: false` are not waited for.
   */
  settled(channels?: readonly string[], options: { rejectOnClose?: boolean } = {}): Promise<void> {
    if (this.#isSettled(channels)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ channels, resolve, reject: options.rejectOnClose === true ? reject : undefined });
    });
  }

  /** Applies what `autorun: false` changes left for later (the `start()` of a running notifier). */
  applyDeferred(): void {
    for (const channel of this.#deferred) this.#dirty.add(channel);
    this.#deferred.clear();
    this.#pump();
  }

  /** Stops listening to the channels and the source; waiters resolve, `start()` rejects. */
  close(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#dropSession();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (waiter.reject === undefined) waiter.resolve();
      else waiter.reject(new NotifierClosedError('start'));
    }
    this.#resync.complete();
  }

  #setWanted(channel: string, wanted: boolean): void {
    if (wanted) this.#wanted.add(channel);
    else this.#wanted.delete(channel);
    // A change is the time to try a refused channel again.
    this.#refused.delete(channel);
    // Nothing to send when the server already agrees and nothing is on its way.
    if (wanted === this.#acknowledged.has(channel) && !this.#inFlight.has(channel)) {
      this.#deferred.delete(channel);
      this.#checkWaiters();
      return;
    }
    if (this.autorun) {
      this.#dirty.add(channel);
      this.#deferred.delete(channel);
    } else if (!this.#dirty.has(channel)) {
      this.#deferred.add(channel);
    }
    this.#pump();
  }

  #onState(state: SourceState): void {
    const { status } = state;
    this.#running = status === 'connecting' || status === 'connected' || status === 'reconnecting';
    if (status === 'connected' && state.session !== this.#session) {
      this.#dropSession();
      this.#session = state.session;
      this.#deferred.clear();
      for (const channel of this.#wanted) this.#dirty.add(channel);
      // After a lost connection, or a stop() and start(): what was sent meanwhile is missed.
      this.#resyncDue = this.#connectedBefore;
      this.#connectedBefore = true;
      this.#pump();
      return;
    }
    if (status === 'connected') return;
    this.#dropSession();
    if (!this.#running) {
      // Stopped: the next session LISTENs everything wanted again.
      this.#dirty.clear();
      this.#deferred.clear();
      this.#checkWaiters();
    }
  }

  // Nothing LISTENed survives a session: a new one starts from nothing.
  #dropSession(): void {
    this.#session = undefined;
    this.#acknowledged.clear();
    this.#inFlight.clear();
    this.#refused.clear();
    this.#batch?.unsubscribe();
    this.#batch = undefined;
  }

  // A loop rather than recursion: with a synchronous source a whole batch completes inside
  // #startBatch, which asks for the next one.
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        if (this.#session !== undefined && this.#batch === undefined) {
          if (this.#dirty.size > 0) this.#startBatch();
          else this.#settle();
        }
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a re-entrant pump() during the body sets it
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #startBatch(): void {
    const session = this.#session;
    const commands: Observable<unknown>[] = [];
    for (const channel of this.#dirty) {
      const wanted = this.#wanted.has(channel);
      const has = this.#acknowledged.has(channel);
      if (wanted === has) continue;
      this.#inFlight.add(channel);
      commands.push(
        this.#command(channel, wanted ? () => this.#source.listen(channel) : () => this.#source.unlisten(channel), () => {
          if (wanted) this.#acknowledged.add(channel);
          else this.#acknowledged.delete(channel);
        }),
      );
    }
    this.#dirty.clear();
    const finished = (): void => {
      if (this.#session !== session) return;
      this.#batch = undefined;
      this.#pump();
    };
    if (commands.length === 0) {
      finished();
      return;
    }
    let done = false;
    // from(...).pipe(mergeAll()) rather than merge(...commands): a start with a very large
    // registry would overflow the argument list.
    const batch = from(commands)
      .pipe(mergeAll())
      .subscribe({
        complete: () => {
          done = true;
          finished();
        },
        error: (cause: unknown) => {
          done = true;
          if (this.#session !== session) return;
          this.#batch = undefined;
          // The connection is alive but the server refused (e.g. a hot standby refuses LISTEN):
          // reconnect with backoff (state$ and errors$ carry the reason); the new session LISTENs
          // everything again.
          this.#source.recycle(
            cause instanceof ConnectionError
              ? cause
              : new ConnectionError('The server refused a LISTEN or UNLISTEN', { cause, explain: true }),
          );
        },
      });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the callbacks above when the batch finished synchronously
    if (!done) this.#batch = batch;
  }

  #command(channel: string, send: () => ReturnType<NotificationSource['listen']>, acknowledge: () => void): Observable<unknown> {
    const session = this.#session;
    return defer(send).pipe(
      tap({
        complete: () => {
          if (this.#session !== session) return;
          this.#inFlight.delete(channel);
          acknowledge();
          this.#checkWaiters();
        },
      }),
      // Per command, not per batch: one refused channel must not cancel its neighbours' commands.
      catchError((cause: unknown) => {
        // The server refused this one channel for a reason of its own: say which and why, and
        // leave the others (and the connection) alone. It is tried again when it changes, or on
        // the next session. Anything else is the connection's trouble: the batch fails with it.
        if (!isChannelRefusal(cause)) return throwError(() => cause);
        if (this.#session === session) {
          this.#inFlight.delete(channel);
          this.#refused.add(channel);
          this.#report(cause);
          this.#checkWaiters();
        }
        return EMPTY;
      }),
    );
  }

  // Nothing dirty and no batch in flight: every change so far is in place on this session.
  #settle(): void {
    this.#checkWaiters();
    if (this.#resyncDue) {
      this.#resyncDue = false;
      this.#resync.next();
    }
  }

  #isSettled(channels: readonly string[] | undefined): boolean {
    if (!this.#running) return true;
    if (this.#session === undefined) return false;
    if (channels === undefined) return this.#batch === undefined && this.#dirty.size === 0;
    return channels.every(
      (channel) =>
        this.#deferred.has(channel) ||
        this.#refused.has(channel) ||
        (!this.#dirty.has(channel) && !this.#inFlight.has(channel) && this.#wanted.has(channel) === this.#acknowledged.has(channel)),
    );
  }

  #checkWaiters(): void {
    if (this.#waiters.length === 0) return;
    const due: Waiter[] = [];
    const rest: Waiter[] = [];
    for (const waiter of this.#waiters) (this.#isSettled(waiter.channels) ? due : rest).push(waiter);
    if (due.length === 0) return;
    this.#waiters = rest;
    for (const waiter of due) waiter.resolve();
  }
}

function isChannelRefusal(cause: unknown): cause is NotifierError {
  return cause instanceof Error && cause.name === 'ChannelRefusedError';
}
