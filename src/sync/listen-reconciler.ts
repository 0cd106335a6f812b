import { defer, from, Subject, type Observable, type Subscription } from 'rxjs';
import { mergeAll, tap } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import type { NotificationSource, SourceState } from '../source/notification-source.js';
import type { Commit } from '../state/registry-store.js';
import { wantsListen, type Registry } from '../state/registry.js';

interface Waiter {
  readonly version: number;
  readonly resolve: () => void;
}

/**
 * The only place that talks to the server about channels. It keeps the set of channels whose
 * LISTEN the server acknowledged on the current session, and brings it in line with the
 * registry by LISTEN and UNLISTEN on the live connection, never by reconnecting, so other
 * channels' traffic is never interrupted.
 *
 * Changes mark their channels dirty; one batch at a time carries out what the dirty channels
 * need, all its commands sent together. A new session starts from nothing: every channel that
 * wants LISTEN is dirty again. Each change gets a version; the promise a change returns resolves
 * once a batch that started after it has finished on a live session.
 */
export class ListenReconciler {
  readonly #source: NotificationSource;
  readonly #registry: () => Registry;
  readonly #acknowledged = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #resync = new Subject<void>();
  readonly #subscriptions: Subscription[] = [];
  #waiters: Waiter[] = [];
  #session: number | undefined;
  #running = false;
  #connectedBefore = false;
  #resyncDue = false;
  #batch: Subscription | undefined;
  #version = 0;
  #pumping = false;
  #pumpAgain = false;

  /** Emits once every channel is LISTENed again after a lost connection was replaced. */
  readonly resync$: Observable<void> = this.#resync.asObservable();

  constructor(source: NotificationSource, commits$: Observable<Commit>, registry: () => Registry) {
    this.#source = source;
    this.#registry = registry;
    this.#subscriptions.push(
      commits$.subscribe((commit) => {
        this.#onCommit(commit);
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
   * Resolves once the server reflects every change made so far: at once when the source is not
   * started (the next start applies everything) or nothing is pending.
   */
  synced(): Promise<void> {
    if (!this.#running || (this.#session !== undefined && this.#batch === undefined && this.#dirty.size === 0)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ version: this.#version, resolve }));
  }

  /** Stops listening to the registry and the source, and releases every waiter. */
  close(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#dropSession();
    this.#releaseWaiters(Infinity);
    this.#resync.complete();
  }

  #onCommit(commit: Commit): void {
    // autorun: false leaves the server as it is; the next session LISTENs from the registry.
    if (!commit.autorun) return;
    for (const channel of commit.changed) this.#dirty.add(channel);
    this.#version++;
    this.#pump();
  }

  #onState(state: SourceState): void {
    const { status } = state;
    this.#running = status === 'connecting' || status === 'connected' || status === 'reconnecting';
    if (status === 'connected' && state.session !== this.#session) {
      this.#dropSession();
      this.#session = state.session;
      for (const [channel, entry] of this.#registry().channels) if (wantsListen(entry)) this.#dirty.add(channel);
      this.#resyncDue = this.#connectedBefore;
      this.#connectedBefore = true;
      this.#version++;
      this.#pump();
      return;
    }
    if (status === 'connected') return;
    this.#dropSession();
    if (!this.#running) {
      // Stopped: what is pending waits for the next start, and so do the channels.
      this.#connectedBefore = false;
      this.#dirty.clear();
      this.#releaseWaiters(Infinity);
    }
  }

  // Nothing LISTENed survives a session: a new one starts from nothing.
  #dropSession(): void {
    this.#session = undefined;
    this.#acknowledged.clear();
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
    const registry = this.#registry();
    const commands: Observable<unknown>[] = [];
    for (const channel of this.#dirty) {
      const wanted = wantsListen(registry.channels.get(channel));
      const has = this.#acknowledged.has(channel);
      if (wanted && !has) {
        commands.push(
          this.#command(
            () => this.#source.listen(channel),
            () => this.#acknowledged.add(channel),
          ),
        );
      } else if (!wanted && has) {
        commands.push(
          this.#command(
            () => this.#source.unlisten(channel),
            () => this.#acknowledged.delete(channel),
          ),
        );
      }
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

  #command(send: () => ReturnType<NotificationSource['listen']>, acknowledge: () => void): Observable<unknown> {
    const session = this.#session;
    return defer(send).pipe(
      tap({
        complete: () => {
          if (this.#session === session) acknowledge();
        },
      }),
    );
  }

  // Nothing dirty and no batch in flight: every change so far is in place on this session.
  #settle(): void {
    this.#releaseWaiters(this.#version);
    if (this.#resyncDue) {
      this.#resyncDue = false;
      this.#resync.next();
    }
  }

  #releaseWaiters(version: number): void {
    if (this.#waiters.length === 0) return;
    const due = this.#waiters.filter((waiter) => waiter.version <= version);
    this.#waiters = this.#waiters.filter((waiter) => waiter.version > version);
    for (const waiter of due) waiter.resolve();
  }
}
