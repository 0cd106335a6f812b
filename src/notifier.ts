import type { ClientConfig } from 'pg';
import { BehaviorSubject, Observable, Subscription } from 'rxjs';

import { channelList, validateChannel } from './channel-name.js';
import { ConnectionError } from './errors/connection-error.js';
import { ErrorReporter } from './errors/error-reporter.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { NotifierClosedError } from './errors/notifier-closed-error.js';
import type { NotifierError } from './errors/notifier-error.js';
import type { ChangeOptions, ChannelOptions, NotifierOptions, SubscribeOptions, UnsubscribeOptions } from './notifier-options.js';
import { parseJsonOrRaw, resolveParser } from './payload/parsers.js';
import { serializePayload } from './payload/serialize.js';
import type { Channel } from './routing/channel.js';
import { newCounters, type Counters } from './routing/counters.js';
import { Router } from './routing/router.js';
import type { NotificationSource, SourceState } from './source/notification-source.js';
import { PgListenSource } from './source/pg-listen-source.js';
import type { ServerStatus } from './source/server-status.js';
import * as reducers from './state/reducers.js';
import { RegistryStore } from './state/registry-store.js';
import type { Registry } from './state/registry.js';
import { subscriberIdOf, subscriberKey } from './state/subscriber-id.js';
import * as views from './state/views.js';
import type { NotifierStatus } from './status.js';
import { ListenReconciler } from './sync/listen-reconciler.js';
import type {
  ChannelName,
  ChannelNames,
  ConnectionState,
  Notification,
  PayloadParser,
  SubscriberCallback,
  SubscriberId,
  TypedChannel,
  UntypedChannel,
} from './types.js';

/**
 * PostgreSQL LISTEN/NOTIFY as hot RxJS Observables, with subscribers by id that can be added,
 * removed, muted and unmuted at will.
 *
 * One connection carries every channel. A channel is LISTENed exactly when it is registered, not
 * muted, and has at least one non-muted consumer (a callback subscriber or a `channel$`
 * observer); changes are applied with LISTEN and UNLISTEN on the live connection, never by
 * reconnecting. A lost connection is replaced with backoff, forever, and `resync$` says when
 * everything is LISTENed again.
 *
 * @typeParam Channels - optional: a map from channel name to payload type, e.g.
 * `Notifier<{ orders: Order; audit: AuditEvent }>`. It types `channel$`, `subscribe` and `notify`
 * and refuses other channel names at compile time. Without it, those methods take a per-call
 * payload type.
 *
 * @example
 * ```ts
 * import { Notifier } from 'pgnotifier';
 *
 * const notifier = new Notifier(process.env.DATABASE_URL);
 * notifier.channel$('orders').subscribe((n) => console.log(n.payload));
 * await notifier.subscribe('audit', 'orders', (id, channel, payload, pid) => console.log(id, payload));
 * await notifier.synced(); // the channel$ observer's LISTEN is in place too
 * // SELECT pg_notify('orders', '{"id":42}') elsewhere logs { id: 42 } twice
 * await notifier.close();
 * ```
 */
export class Notifier<Channels extends object = Record<string, unknown>> {
  readonly #source: NotificationSource;
  readonly #store = new RegistryStore();
  readonly #counters: Counters = newCounters();
  readonly #reporter = new ErrorReporter();
  readonly #state = new BehaviorSubject<ConnectionState>({ status: 'idle' });
  readonly #parse: PayloadParser;
  readonly #router: Router;
  readonly #reconciler: ListenReconciler;
  /** The notifier's own subscriptions, between its parts; ended by `close()`. */
  readonly #wiring = new Subscription();
  #startRequested = false;
  #closing: Promise<void> | undefined;

  /**
   * Every non-fatal problem, as typed errors: {@link PayloadParseError}, {@link SubscriberError},
   * {@link ConnectionError}. Nothing here stops the notifier. While nothing subscribes, the first
   * problem of each kind is printed as a process warning, and all are counted in `status()`.
   *
   * @example
   * ```ts
   * notifier.errors$.subscribe((error) => {
   *   if (error instanceof SubscriberError) log.warn({ id: error.id, channel: error.channel }, error.message);
   *   else log.warn(error.message);
   * });
   * ```
   */
  readonly errors$: Observable<NotifierError> = this.#reporter.errors$;

  /**
   * The connection state, current value first; see {@link ConnectionState}. Completes on `close()`.
   *
   * @example
   * ```ts
   * notifier.state$
   *   .pipe(filter((state) => state.status === 'reconnecting'))
   *   .subscribe((state) => console.warn(`reconnecting (attempt ${state.attempt}): ${state.error?.message}`));
   * ```
   */
  readonly state$: Observable<ConnectionState> = this.#state.asObservable();

  /**
   * Emits once every channel is LISTENed again on a new connection after an earlier one: after a
   * lost connection was replaced, and after `restart()` or `stop()` then `start()` (not on the
   * first connect). Notifications sent while no connection was listening are lost, PostgreSQL
   * keeps none: re-read what you may have missed here.
   *
   * @example
   * ```ts
   * // Keep a cache fresh: read once at the start and again after every reconnect.
   * const orders$ = notifier.resync$.pipe(
   *   startWith(undefined),
   *   switchMap(() => from(db.query('SELECT * FROM orders WHERE open'))),
   * );
   * ```
   */
  readonly resync$: Observable<void>;

  /**
   * @param config - a connection string, a pg `ClientConfig` (pg's `PG*` environment variables
   * fill in what is missing), or a {@link NotificationSource} such as `MemorySource`.
   * @param options - parsing, reconnect and heartbeat options.
   * @throws {@link InvalidArgumentError} for an option out of range.
   */
  constructor(config: string | ClientConfig | NotificationSource = {}, options: NotifierOptions = {}) {
    this.#parse = resolveParser(options.parse, parseJsonOrRaw);
    this.#source = isSource(config) ? config : new PgListenSource(config, options);
    this.#router = new Router({ parse: this.#parse, report: this.#reporter.report, counters: this.#counters });
    // Every channel's mute + consumer state reaches LISTEN/UNLISTEN through here.
    this.#reconciler = new ListenReconciler(this.#source, this.#router.channels$, this.#reporter.report);
    this.resync$ = this.#reconciler.resync$;
    this.#wiring.add(
      this.#source.state$.subscribe((state) => {
        this.#onSourceState(state);
      }),
    );
    // Where a notification enters: straight from the source to the router, no operator between.
    // eslint-disable-next-line rxjs-x/no-unbound-methods -- an arrow-function property: bound
    this.#wiring.add(this.#source.notifications$.subscribe(this.#router.route));
    // Source problems that are not a state change (e.g. QueueUsageWarning) reach errors$ too.
    this.#wiring.add(
      this.#source.errors$?.subscribe((error) => {
        this.#reporter.report(error);
      }),
    );
  }

  // ─── Consuming ──────────────────────────────────────────────────────────────────────────────

  /**
   * A channel as a hot Observable of its notifications. Registers the channel if needed. Each
   * observer counts as a consumer: the first one makes the channel LISTENed (unless it is muted),
   * the last one leaving UNLISTENs it (unless callback subscribers remain); many observers share
   * one LISTEN. Muting the channel silences its observers without completing them;
   * `removeChannels` and `close()` complete them. A NOTIFY sent before the LISTEN is in place is
   * not delivered: `await notifier.synced()` after subscribing waits for it.
   *
   * @example
   * ```ts
   * notifier
   *   .channel$<{ id: number }>('orders')
   *   .pipe(map((n) => n.payload.id), bufferTime(100))
   *   .subscribe((ids) => console.log('changed:', ids));
   * await notifier.synced(); // LISTEN "orders" is in place
   * ```
   *
   * @param channel - the channel name, case-exact as `pg_notify` names it.
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError}, {@link NotifierClosedError}
   */
  channel$<T = unknown>(channel: UntypedChannel<Channels>, options?: ChannelOptions<T>): Observable<Notification<T>>;
  channel$<C extends ChannelName<Channels>>(
    channel: C,
    options?: ChannelOptions<TypedChannel<Channels, C>>,
  ): Observable<Notification<TypedChannel<Channels, C>>>;
  channel$(channel: string, options?: ChannelOptions<unknown>): Observable<Notification> {
    this.#assertOpen('channel$');
    validateChannel(channel);
    const { parse: option, durable } = optionsOf(options);
    refuseDurable(durable, 'durable');
    const parse = option === undefined ? undefined : resolveParser(option, this.#parse);
    this.#register([channel]);
    // The observers of one channel$ call with their own parser share one parse per notification,
    // as long as the channel is the same (a removed channel registered again is a new one).
    let shared: { channel: Channel; stream: Observable<Notification> } | undefined;
    return new Observable<Notification>((subscriber) => {
      if (this.#closing !== undefined) {
        subscriber.complete();
        return undefined;
      }
      this.#change((registry) => reducers.countObserver(registry, channel, 1), true);
      const current = this.#router.ensure(channel);
      if (shared?.channel !== current) shared = { channel: current, stream: current.observe(parse) };
      subscriber.add(shared.stream.subscribe(subscriber));
      this.#startIfWanted([channel]);
      return () => {
        // An observer of a channel that was removed (and perhaps registered again) no longer counts.
        if (this.#closing === undefined && this.#router.get(channel) === current) {
          this.#change((registry) => reducers.countObserver(registry, channel, -1), true);
        }
      };
    });
  }

  // ─── Registry ───────────────────────────────────────────────────────────────────────────────

  /**
   * Registers channels. Existing ones keep their state. A channel without consumers is not
   * LISTENed, so this needs no server work: the promise resolves at once.
   *
   * @param channels - a channel name or any iterable of them.
   * @throws {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  addChannels(channels: ChannelNames<Channels>): Promise<void> {
    this.#assertOpen('addChannels');
    const list = channelList(channels);
    return this.#settled(this.#register(list), true);
  }

  /**
   * Removes channels with all their subscribers, and completes their `channel$` observers.
   * Channels that are not registered are ignored.
   *
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError}, {@link NotifierClosedError}
   */
  removeChannels(channels: ChannelNames<Channels>, options?: ChangeOptions): Promise<void> {
    this.#assertOpen('removeChannels');
    const list = channelList(channels);
    const autorun = autorunOf(options);
    const changed = this.#change(
      (registry) => reducers.removeChannels(registry, list),
      autorun,
      () => {
        this.#router.remove(list);
      },
    );
    return this.#settled(changed, autorun);
  }

  /**
   * Subscribes a callback to a channel under an id, registering the channel if needed: an RxJS
   * Subscription per (id, channel). The same id may subscribe to many channels, each with its own
   * callback; subscribing the same (id, channel) again replaces its callback and keeps its mute
   * state. A callback that throws (or whose promise rejects) is reported on `errors$`; the others
   * still run. Callbacks are not awaited: an async callback's next call may start before its
   * previous promise settled (use `channel$` with `concatMap` for one at a time).
   *
   * @example
   * ```ts
   * await notifier.subscribe(['mailer', 1], 'orders', async (id, channel, payload: { id: number }) => {
   *   await sendMail(payload);
   * });
   * // from here on, every NOTIFY on 'orders' reaches the callback
   * ```
   *
   * @param id - a string, a number or an array of those; arrays compare by value.
   * @returns a promise that resolves once the server LISTENs the channel (at once if it already
   * does, or with `autorun: false`). It never rejects for connection trouble.
   * @throws {@link InvalidArgumentError}, {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  subscribe<T = unknown>(
    id: SubscriberId,
    channel: UntypedChannel<Channels>,
    callback: SubscriberCallback<T>,
    options?: SubscribeOptions,
  ): Promise<void>;
  subscribe<C extends ChannelName<Channels>>(
    id: SubscriberId,
    channel: C,
    callback: SubscriberCallback<TypedChannel<Channels, C>>,
    options?: SubscribeOptions,
  ): Promise<void>;
  subscribe(id: SubscriberId, channel: string, callback: SubscriberCallback<never>, options?: SubscribeOptions): Promise<void> {
    this.#assertOpen('subscribe');
    const key = subscriberKey(id);
    validateChannel(channel);
    if (typeof callback !== 'function') throw new InvalidArgumentError(`The callback must be a function, got ${typeof callback}`);
    const autorun = autorunOf(options);
    refuseDurable(options?.durable, 'durable');
    const stored = subscriberIdOf(key);
    const changed = this.#change(
      (registry) => reducers.subscribe(registry, stored, key, channel),
      autorun,
      () => {
        this.#router.ensure(channel).subscribe(key, stored, callback as SubscriberCallback);
      },
    );
    return this.#settled(changed, autorun);
  }

  /**
   * Unsubscribes an id from one channel (or several), or from all of its channels when none is
   * given: ends those Subscriptions. Other pairs of the id are untouched. The channel stays
   * registered.
   *
   * @throws {@link UnknownSubscriberError}, {@link UnknownChannelError}, {@link InvalidArgumentError},
   * {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unsubscribe(id: SubscriberId, channels?: ChannelNames<Channels>, options?: UnsubscribeOptions): Promise<void> {
    this.#assertOpen('unsubscribe');
    const key = subscriberKey(id);
    const list = optionalList(channels);
    const autorun = autorunOf(options);
    refuseDurable(options?.forget, 'forget');
    const changed = this.#change(
      (registry) => reducers.unsubscribe(registry, subscriberIdOf(key), key, list),
      autorun,
      (targets) => {
        for (const channel of targets) this.#router.get(channel)?.unsubscribe(key);
      },
    );
    return this.#settled(changed, autorun);
  }

  /**
   * Mutes channels (all when none are given; an empty list mutes none). A muted channel is
   * UNLISTENed and delivers nothing; its subscribers keep their own mute flags.
   *
   * @example
   * ```ts
   * await notifier.muteChannels('audit'); // UNLISTEN "audit": nothing arrives, nothing is queued
   * await notifier.unmuteChannels('audit'); // LISTEN "audit" again; resolves once the server has it
   * ```
   *
   * @throws {@link UnknownChannelError}, {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  muteChannels(channels?: ChannelNames<Channels>): Promise<void> {
    return this.#muteChannels('muteChannels', channels, true);
  }

  /**
   * Unmutes channels (all when none are given; an empty list unmutes none). A channel is LISTENed
   * again if it has a non-muted consumer.
   *
   * @throws {@link UnknownChannelError}, {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unmuteChannels(channels?: ChannelNames<Channels>): Promise<void> {
    return this.#muteChannels('unmuteChannels', channels, false);
  }

  /**
   * Mutes a subscriber on channels (all of its channels when none are given). A channel left with
   * no non-muted consumer is UNLISTENed.
   *
   * @example
   * ```ts
   * await notifier.muteSubscriber('mailer', 'orders'); // only on 'orders'
   * await notifier.muteSubscriber(['audit', 1]); // on all of its channels
   * notifier.mutedSubscribers('orders'); // { orders: ['mailer', ['audit', 1]] }
   * ```
   *
   * @throws {@link UnknownSubscriberError}, {@link UnknownChannelError}, {@link InvalidArgumentError},
   * {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  muteSubscriber(id: SubscriberId, channels?: ChannelNames<Channels>): Promise<void> {
    return this.#muteSubscriber('muteSubscriber', id, channels, true);
  }

  /**
   * Unmutes a subscriber on channels (all of its channels when none are given).
   *
   * @throws {@link UnknownSubscriberError}, {@link UnknownChannelError}, {@link InvalidArgumentError},
   * {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unmuteSubscriber(id: SubscriberId, channels?: ChannelNames<Channels>): Promise<void> {
    return this.#muteSubscriber('unmuteSubscriber', id, channels, false);
  }

  // ─── Views (after close(): empty, with the final counters) ──────────────────────────────────

  /** Every channel with its mute flag, whether it is LISTENed, its observers and subscribers. */
  channels(): Record<string, views.ChannelView> {
    return views.channelsView(this.#store.registry, this.#reconciler.acknowledged);
  }

  /** The channels whose LISTEN the server acknowledged on the current connection. */
  activeChannels(): string[] {
    return [...this.#reconciler.acknowledged];
  }

  /** Every subscriber id with its channels and mute flags. */
  subscribers(): views.SubscriberView[] {
    return views.subscribersView(this.#store.registry, this.#reconciler.acknowledged);
  }

  /** The muted channels among `channels` (all when none are given). @throws {@link UnknownChannelError} */
  mutedChannels(channels?: ChannelNames<Channels>): string[] {
    return views.channelsByMute(this.#store.registry, optionalList(channels), true);
  }

  /** The non-muted channels among `channels` (all when none are given). @throws {@link UnknownChannelError} */
  nonMutedChannels(channels?: ChannelNames<Channels>): string[] {
    return views.channelsByMute(this.#store.registry, optionalList(channels), false);
  }

  /** For each of `channels` (all when none are given), its muted subscriber ids. @throws {@link UnknownChannelError} */
  mutedSubscribers(channels?: ChannelNames<Channels>): Record<string, SubscriberId[]> {
    return views.subscribersByMute(this.#store.registry, optionalList(channels), true);
  }

  /** For each of `channels` (all when none are given), its non-muted subscriber ids. @throws {@link UnknownChannelError} */
  nonMutedSubscribers(channels?: ChannelNames<Channels>): Record<string, SubscriberId[]> {
    return views.subscribersByMute(this.#store.registry, optionalList(channels), false);
  }

  /**
   * Running flag, connection state, channels, subscriber counts and counters: a JSON-serialisable
   * snapshot for a health endpoint or a log line (the connection error as `name`, `message` and
   * `code`). After `close()`: status `closed`, no channels, the final counters.
   *
   * @example
   * ```ts
   * http.createServer((req, res) => res.end(JSON.stringify(notifier.status()))).listen(9090);
   * ```
   */
  status(): NotifierStatus {
    return {
      ...views.statusView(this.#store.registry, this.#reconciler.acknowledged, this.#state.getValue(), this.#counters, this.isRunning()),
      ...serverOf(this.#source),
    };
  }

  // ─── Lifecycle ──────────────────────────────────────────────────────────────────────────────

  /**
   * Connects (retrying forever) and LISTENs every channel that should be; resolves once that is
   * done. Changes made with `autorun: false` are applied now, also on a running notifier. The
   * first change that needs the server starts a notifier that was never started, so calling this
   * is optional until a `stop()`.
   *
   * @returns a promise that rejects with {@link NotifierClosedError} if `close()` comes first.
   * @throws {@link NotifierClosedError}
   */
  start(): Promise<void> {
    this.#assertOpen('start');
    this.#startRequested = true;
    this.#source.start();
    this.#reconciler.applyDeferred();
    return this.#reconciler.settled(undefined, { rejectOnClose: true });
  }

  /**
   * Closes the connection, cancelling any connect or backoff in flight, and keeps the registry.
   * The notifier stays stopped until `start()` or `restart()`.
   *
   * @throws {@link NotifierClosedError}
   */
  stop(): Promise<void> {
    this.#assertOpen('stop');
    this.#startRequested = true;
    return this.#source.stop();
  }

  /** Closes the connection and opens a new one, LISTENing from the registry. @throws {@link NotifierClosedError} */
  restart(): Promise<void> {
    this.#assertOpen('restart');
    return this.stop().then(() => this.start());
  }

  /**
   * Resolves once everything asked so far is on the server: every channel that should be
   * LISTENed is, every other one is not. At once when the notifier is stopped or was never
   * started; `autorun: false` changes are not waited for. Use it after subscribing to `channel$`
   * to know the LISTEN is in place.
   *
   * @throws {@link NotifierClosedError}
   */
  synced(): Promise<void> {
    this.#assertOpen('synced');
    return this.#reconciler.settled();
  }

  /** True only while a connection is open and serving (`state$` is `connected`). */
  isRunning(): boolean {
    return this.#state.getValue().status === 'connected';
  }

  /**
   * Sends a notification: the payload is serialised with `JSON.stringify` (`undefined` sends an
   * empty payload) and sent with a parameterised `pg_notify` on a connection of its own.
   *
   * @throws {@link InvalidChannelError}, {@link PayloadTooLargeError} (8000 UTF-8 bytes or more),
   * {@link InvalidArgumentError}, {@link NotifierClosedError}, synchronously; the promise rejects
   * with pg's error if the server does.
   */
  notify(channel: UntypedChannel<Channels>, payload?: unknown): Promise<void>;
  notify<C extends ChannelName<Channels>>(channel: C, payload: TypedChannel<Channels, C>): Promise<void>;
  notify(channel: string, payload?: unknown): Promise<void> {
    this.#assertOpen('notify');
    validateChannel(channel);
    return this.#source.send(channel, serializePayload(channel, payload));
  }

  /**
   * Stops for good: closes the connection, completes every Observable, releases every timer and
   * socket, so the process can exit. Calling it again is harmless; any other method then throws
   * {@link NotifierClosedError}. The views then show nothing registered.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void notifier.close());
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#reconciler.close();
    this.#router.close();
    this.#store.clear();
    try {
      await this.#source.dispose();
    } finally {
      this.#state.next({ status: 'closed' });
      this.#state.complete();
      this.#reporter.complete();
      this.#store.close();
      this.#wiring.unsubscribe();
    }
  }

  // ─── Internals ──────────────────────────────────────────────────────────────────────────────

  /**
   * Applies one change: the reducer to the registry (the views' state), then `apply` to the
   * channels (the delivery graph), whose `wanted$` reach the reconciler. With `autorun: false`
   * the reconciler defers what this changes. A reducer that throws changes nothing.
   */
  #change(
    reducer: (registry: Registry) => reducers.Change,
    autorun: boolean,
    apply?: (changed: readonly string[]) => void,
  ): readonly string[] {
    const { changed } = this.#store.apply(reducer);
    if (apply !== undefined && changed.length > 0) {
      const previous = this.#reconciler.autorun;
      this.#reconciler.autorun = autorun;
      try {
        apply(changed);
      } finally {
        this.#reconciler.autorun = previous;
      }
    }
    if (autorun) this.#startIfWanted(changed);
    return changed;
  }

  /** A notifier that was never started starts on the first change that needs the server. */
  #startIfWanted(channels: readonly string[]): void {
    if (!this.#startRequested && channels.some((channel) => this.#router.get(channel)?.wanted === true)) {
      this.#startRequested = true;
      this.#source.start();
    }
  }

  /** Registers channels in the registry and the router; returns those that were new. */
  #register(channels: readonly string[]): readonly string[] {
    return this.#change(
      (registry) => reducers.addChannels(registry, channels),
      true,
      (added) => {
        for (const channel of added) this.#router.ensure(channel);
      },
    );
  }

  /** The promise of a change: resolves once the server reflects what it changed. */
  #settled(changed: readonly string[], autorun: boolean): Promise<void> {
    return autorun ? this.#reconciler.settled(changed) : Promise.resolve();
  }

  #muteChannels(method: string, channels: Iterable<string> | undefined, muted: boolean): Promise<void> {
    this.#assertOpen(method);
    const list = optionalList(channels);
    const changed = this.#change(
      (registry) => reducers.setChannelsMuted(registry, list, muted),
      true,
      (targets) => {
        for (const channel of targets) this.#router.get(channel)?.setMuted(muted);
      },
    );
    return this.#settled(changed, true);
  }

  #muteSubscriber(method: string, id: SubscriberId, channels: Iterable<string> | undefined, muted: boolean): Promise<void> {
    this.#assertOpen(method);
    const key = subscriberKey(id);
    const list = optionalList(channels);
    const changed = this.#change(
      (registry) => reducers.setSubscriberMuted(registry, subscriberIdOf(key), key, list, muted),
      true,
      (targets) => {
        for (const channel of targets) this.#router.get(channel)?.setSubscriberMuted(key, muted);
      },
    );
    return this.#settled(changed, true);
  }

  #onSourceState(state: SourceState): void {
    if (this.#closing !== undefined && state.status !== 'closed') return;
    const { status, attempt, error } = state;
    this.#state.next({ status, ...(attempt === undefined ? {} : { attempt }), ...(error === undefined ? {} : { error }) });
    if (error !== undefined) {
      this.#counters.connectionErrors++;
      this.#reporter.report(
        error instanceof ConnectionError ? error : new ConnectionError('Connection problem', { cause: error, explain: true }),
      );
    }
  }

  #assertOpen(method: string): void {
    if (this.#closing !== undefined) throw new NotifierClosedError(method);
  }
}

/** The options object of a change; `null` and non-objects are refused like any wrong argument. */
function autorunOf(options: unknown): boolean {
  if (options === undefined) return true;
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`The options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const { autorun = true } = options as ChangeOptions;
  if (typeof autorun !== 'boolean') throw new InvalidArgumentError(`autorun must be a boolean, got ${typeof autorun}`);
  return autorun;
}

/**
 * Durable channels are not wired in yet: the options are part of the API so that adding them
 * changes no signature, and `true` is refused rather than silently ignored.
 */
function refuseDurable(value: unknown, option: string): void {
  if (value === undefined || value === false) return;
  throw new InvalidArgumentError(`${option}: durable channels are not available on this notifier`);
}

/** The options object of `channel$`, checked the same way. */
function optionsOf(options: unknown): ChannelOptions<unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`The options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  return options;
}

function optionalList(channels: unknown): string[] | undefined {
  return channels === undefined ? undefined : channelList(channels);
}

function serverOf(source: NotificationSource): { server?: ServerStatus } {
  const server = source.server?.();
  return server === undefined ? {} : { server };
}

function isSource(value: unknown): value is NotificationSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    'notifications$' in value &&
    'state$' in value &&
    typeof (value as NotificationSource).listen === 'function'
  );
}
