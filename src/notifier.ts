import type { ClientConfig } from 'pg';
import {
  BehaviorSubject,
  catchError,
  defer,
  distinctUntilChanged,
  EMPTY,
  from,
  merge,
  Observable,
  Subscription,
  switchMap,
  tap,
} from 'rxjs';

import { channelList, validateUserChannel } from './channel-name.js';
import { describeValue } from './durable/describe-value.js';
import { DurableReaders, type DurableReaderEntry } from './durable/durable-readers.js';
import { InFlight } from './durable/in-flight.js';
import { DEFAULT_DURABLE_SCHEMA, DURABLE_WAKE_PREFIX, durableWakeChannel } from './durable/durable-schema-sql.js';
import { PgDurableSource, type PgDurableSourceOptions } from './durable/pg-durable-source.js';
import { serializeAll } from './durable/publish-many-query.js';
import { DurableUnavailableError } from './errors/durable-unavailable-error.js';
import { ConnectionError } from './errors/connection-error.js';
import { ErrorReporter } from './errors/error-reporter.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { NotifierClosedError } from './errors/notifier-closed-error.js';
import { NotifierError } from './errors/notifier-error.js';
import { PayloadParseError } from './errors/payload-parse-error.js';
import { SubscriberError } from './errors/subscriber-error.js';
import type {
  ChangeOptions,
  ChannelOptions,
  DurableSubscribeOptions,
  NotifierDurableOptions,
  NotifierOptions,
  SubscribeOptions,
  UnsubscribeOptions,
} from './notifier-options.js';
import { parseJsonOrRaw, parseRaw, resolveParser } from './payload/parsers.js';
import { serializeJson, serializePayload } from './payload/serialize.js';
import type { Channel } from './routing/channel.js';
import { newCounters, type Counters } from './routing/counters.js';
import { Router } from './routing/router.js';
import type { DurableMessage, DurableSource, DurableStart } from './source/durable-source.js';
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
  DurableNotification,
  DurableSubscriberCallback,
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
  /** The PostgreSQL config the notifier was given (not a source): what a durable pool connects to. */
  readonly #pgConfig: string | ClientConfig | undefined;
  readonly #durableOptions: NotifierDurableOptions;
  /** The durable part, once used: the source's own, or a PgDurableSource the notifier built. */
  #durable: DurableSource | undefined;
  /** The durable source the notifier built (and so closes). */
  #ownDurable: PgDurableSource | undefined;
  readonly #durableReaders = new DurableReaders();
  /**
   * Durable starts under way: the position a since-less observer or a new durable subscriber
   * starts from, while its query runs. `synced()` and `publish()` wait for them, so a message
   * published after subscribing is never taken for one from before.
   */
  readonly #durableStarts = new InFlight();
  /** False between `stop()` and `start()`: durable readers pause as a muted channel's do. */
  readonly #durableRunning = new BehaviorSubject(true);
  /** Durable subscribers by (key, channel): the callback they call (replaced on subscribing again) and their status entry. */
  readonly #durablePairs = new Map<string, { target: { callback: DurableSubscriberCallback }; entry: DurableReaderEntry }>();

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
    this.#durableOptions = durableOptionsOf(options.durable);
    this.#pgConfig = isSource(config) ? undefined : config;
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
    // Durable options are checked now (building the source connects nothing: its pools are lazy).
    if (options.durable !== undefined && this.#pgConfig !== undefined) this.#durableFor('constructor');
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
   * With `{ durable: true }` it reads the channel's durable messages instead (published with
   * `publish`): notifications with `id` and `cursor`, each observer from its own subscription or
   * from `since` (a cursor, or `'earliest'`), paused while the channel is muted, never making the
   * plain channel LISTENed. Without `since`, `await notifier.synced()` after subscribing waits
   * until its start is fixed: every message committed from then on reaches it.
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
  channel$<T = unknown>(
    channel: UntypedChannel<Channels>,
    options: ChannelOptions<T> & { readonly durable: true },
  ): Observable<DurableNotification<T>>;
  channel$<C extends ChannelName<Channels>>(
    channel: C,
    options: ChannelOptions<TypedChannel<Channels, C>> & { readonly durable: true },
  ): Observable<DurableNotification<TypedChannel<Channels, C>>>;
  channel$<T = unknown>(channel: UntypedChannel<Channels>, options?: ChannelOptions<T>): Observable<Notification<T>>;
  channel$<C extends ChannelName<Channels>>(
    channel: C,
    options?: ChannelOptions<TypedChannel<Channels, C>>,
  ): Observable<Notification<TypedChannel<Channels, C>>>;
  channel$(channel: string, options?: ChannelOptions<unknown>): Observable<Notification> {
    this.#assertOpen('channel$');
    validateUserChannel(channel);
    const { parse: option, durable, since } = optionsOf(options);
    const parse = option === undefined ? undefined : resolveParser(option, this.#parse);
    if (booleanOption(durable, 'durable')) return this.#durableChannel$(channel, parse ?? this.#parse, since);
    if (since !== undefined) throw new InvalidArgumentError('since is an option of durable channels: add durable: true');
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
    list.forEach(validateUserChannel);
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
      (removed) => {
        this.#router.remove(list);
        for (const channel of removed) {
          for (const [pair, { entry }] of this.#durablePairs) {
            if (entry.channel !== channel) continue;
            this.#durablePairs.delete(pair);
            this.#durableReaders.delete(entry);
          }
        }
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
   * With `{ durable: true }` the pair is a durable consumer instead (see the README's "Durable
   * channels"): its position is stored in the database under the subscriber key and the channel,
   * the callback gets a fifth argument `{ id, cursor }` and is called one message at a time, the
   * position moving past a message once the callback's promise settles. Muting it or its channel
   * pauses it (the position holds); the promise resolves once its position is stored.
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
    callback: DurableSubscriberCallback<T>,
    options: DurableSubscribeOptions,
  ): Promise<void>;
  subscribe<C extends ChannelName<Channels>>(
    id: SubscriberId,
    channel: C,
    callback: DurableSubscriberCallback<TypedChannel<Channels, C>>,
    options: DurableSubscribeOptions,
  ): Promise<void>;
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
  subscribe(
    id: SubscriberId,
    channel: string,
    callback: SubscriberCallback<never> | DurableSubscriberCallback<never>,
    options?: SubscribeOptions,
  ): Promise<void> {
    this.#assertOpen('subscribe');
    const key = subscriberKey(id);
    validateUserChannel(channel);
    if (typeof callback !== 'function') throw new InvalidArgumentError(`The callback must be a function, got ${typeof callback}`);
    const autorun = autorunOf(options);
    const kind = this.#router.get(channel)?.subscriberKind(key);
    if (booleanOption(options?.durable, 'durable')) {
      const durable = this.#durableFor('subscribe');
      if (kind === 'plain')
        throw new InvalidArgumentError(`${key} is a plain subscriber of ${JSON.stringify(channel)}: unsubscribe it first`);
      return this.#subscribeDurable(durable, key, channel, callback as DurableSubscriberCallback, autorun);
    }
    if (kind === 'durable')
      throw new InvalidArgumentError(`${key} is a durable subscriber of ${JSON.stringify(channel)}: unsubscribe it first`);
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
   * registered. A durable pair's stored position is kept, unless `forget: true` deletes it (the
   * promise then also waits for the deletion, and rejects if the server refuses it).
   *
   * @throws {@link UnknownSubscriberError}, {@link UnknownChannelError}, {@link InvalidArgumentError},
   * {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unsubscribe(id: SubscriberId, channels?: ChannelNames<Channels>, options?: UnsubscribeOptions): Promise<void> {
    this.#assertOpen('unsubscribe');
    const key = subscriberKey(id);
    const list = optionalList(channels);
    const autorun = autorunOf(options);
    const forget = booleanOption(options?.forget, 'forget');
    const durable = forget ? this.#durableFor('unsubscribe') : undefined;
    const forgotten: Promise<void>[] = [];
    const changed = this.#change(
      (registry) => reducers.unsubscribe(registry, subscriberIdOf(key), key, list),
      autorun,
      (targets) => {
        for (const channel of targets) {
          this.#router.get(channel)?.unsubscribe(key);
          // The stored position stays unless forget asks: a later durable subscribe resumes there.
          // Forgetting waits for a start under way, whose store would bring the position back.
          if (this.#dropDurablePair(key, channel) && durable !== undefined)
            forgotten.push(this.#durableStarts.settled().then(() => durable.forget(key, channel)));
        }
      },
    );
    return Promise.all([this.#settled(changed, autorun), ...forgotten]).then(() => undefined);
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
    return views.channelsView(this.#store.registry, this.#active());
  }

  /** The channels whose LISTEN the server acknowledged on the current connection. */
  activeChannels(): string[] {
    return [...this.#active()];
  }

  /** Every subscriber id with its channels and mute flags. */
  subscribers(): views.SubscriberView[] {
    return views.subscribersView(this.#store.registry, this.#active());
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
      ...views.statusView(this.#store.registry, this.#active(), this.#state.getValue(), this.#counters, this.isRunning()),
      ...serverOf(this.#source),
      ...(this.#durable === undefined ? {} : { durable: { readers: this.#durableReaders.snapshot(this.#durable, this.#reporter.report) } }),
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
    this.#durableRunning.next(true);
    this.#source.start();
    this.#reconciler.applyDeferred();
    return this.#reconciler.settled(undefined, { rejectOnClose: true });
  }

  /**
   * Closes the connection, cancelling any connect or backoff in flight, and keeps the registry.
   * The notifier stays stopped until `start()` or `restart()`; its durable readers pause
   * meanwhile (positions hold) and resume where they stood.
   *
   * @throws {@link NotifierClosedError}
   */
  stop(): Promise<void> {
    this.#assertOpen('stop');
    this.#startRequested = true;
    // As in close(): readers pause before anything else; a message being handled still finishes
    // and stores its position, and the resumed reader waits for that store (PgDurableSource.consume).
    this.#durableRunning.next(false);
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
   * to know the LISTEN is in place, and after subscribing to a durable `channel$` without `since`
   * to know where it starts: every message committed from then on reaches it.
   *
   * @throws {@link NotifierClosedError}
   */
  synced(): Promise<void> {
    this.#assertOpen('synced');
    return Promise.all([this.#reconciler.settled(), this.#durableStarts.settled()]).then(() => undefined);
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
    validateUserChannel(channel);
    return this.#source.send(channel, serializePayload(channel, payload));
  }

  /**
   * Publishes a message on a durable channel: serialised as `notify()` does (`JSON.stringify`;
   * `undefined` stores an empty payload), of any size, stored in the outbox and announced with a
   * wake-up, in one transaction. Resolves with the message id (a decimal string) once committed.
   * For a publish inside your own transaction, use `publishQuery`.
   *
   * @example
   * ```ts
   * const id = await notifier.publish('orders', { id: 42, total: 250 });
   * ```
   *
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError}, {@link DurableUnavailableError},
   * {@link NotifierClosedError}, synchronously; the promise rejects with {@link DurableUnavailableError}
   * when the durable schema is missing (run `install()`), with pg's error if the server refuses otherwise.
   */
  publish(channel: UntypedChannel<Channels>, payload?: unknown): Promise<string>;
  publish<C extends ChannelName<Channels>>(channel: C, payload: TypedChannel<Channels, C>): Promise<string>;
  publish(channel: string, payload?: unknown): Promise<string> {
    this.#assertOpen('publish');
    validateUserChannel(channel);
    const durable = this.#durableFor('publish');
    const text = serializeJson(channel, payload);
    // After the starts of readers subscribed before this call: it is a message from after them.
    return this.#durableStarts.settled().then(() => durable.publish(channel, text));
  }

  /**
   * Publishes many messages on one durable channel in one statement: each serialised as
   * `publish()` does, stored with one INSERT and announced with one wake-up, all in one transaction
   * (all or none). Resolves with their ids (decimal strings) in the order of `payloads`; an empty
   * array publishes nothing and resolves with `[]`. Far cheaper per message than `publish()` in a
   * loop. For your own transaction, use `publishManyQuery`.
   *
   * @example
   * ```ts
   * const ids = await notifier.publishMany('orders', [{ id: 42 }, { id: 43 }]);
   * ```
   *
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError} (`payloads` not an array, a
   * payload that cannot be serialised), {@link DurableUnavailableError}, {@link NotifierClosedError},
   * synchronously and before anything is sent; the promise rejects with pg's error if the server does.
   */
  publishMany(channel: UntypedChannel<Channels>, payloads: readonly unknown[]): Promise<string[]>;
  publishMany<C extends ChannelName<Channels>>(channel: C, payloads: readonly TypedChannel<Channels, C>[]): Promise<string[]>;
  publishMany(channel: string, payloads: readonly unknown[]): Promise<string[]> {
    this.#assertOpen('publishMany');
    validateUserChannel(channel);
    const texts = serializeAll(channel, payloads);
    const durable = this.#durableFor('publishMany');
    if (durable.publishMany === undefined) throw new DurableUnavailableError('publishMany');
    const publishMany = durable.publishMany.bind(durable);
    // As publish(): after the starts of readers subscribed before this call.
    return this.#durableStarts.settled().then(() => publishMany(channel, texts));
  }

  /**
   * Creates the durable schema (`durableSchemaSql`: tables and functions) where it is missing.
   * Idempotent and safe when many processes run it at once.
   *
   * @throws {@link DurableUnavailableError}, {@link NotifierClosedError}
   */
  install(): Promise<void> {
    this.#assertOpen('install');
    return this.#durableFor('install').install();
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
    // Durable readers stop first, before anything they deliver to is torn down: from here on no
    // message is handed to a callback or observer. A message already being handled keeps the
    // callback it was given (not looked up in #durablePairs, which is only bookkeeping), and its
    // position is stored once that callback settles, within the durable part's grace below; a
    // callback that outlasts the grace leaves its position unstored, so the message comes again.
    this.#durableRunning.next(false);
    this.#reconciler.close();
    this.#router.close();
    this.#store.clear();
    this.#durablePairs.clear();
    this.#durableReaders.clear();
    try {
      await this.#source.dispose();
      await this.#ownDurable?.close();
    } finally {
      this.#state.next({ status: 'closed' });
      this.#state.complete();
      this.#reporter.complete();
      this.#store.close();
      this.#wiring.unsubscribe();
    }
  }

  // ─── Internals ──────────────────────────────────────────────────────────────────────────────

  /** The channels whose LISTEN the server acknowledged, without the durable wake-up channel. */
  #active(): ReadonlySet<string> {
    const acknowledged = this.#reconciler.acknowledged;
    if (![...acknowledged].some((channel) => channel.startsWith(DURABLE_WAKE_PREFIX))) return acknowledged;
    return new Set([...acknowledged].filter((channel) => !channel.startsWith(DURABLE_WAKE_PREFIX)));
  }

  /**
   * The durable part, made on first use: the source's own where it has one, else a
   * PgDurableSource on the notifier's PostgreSQL config, woken from this notifier's own listening
   * connection (its wake-up channel, LISTENed while it has readers, and `resync$`).
   *
   * @throws {@link DurableUnavailableError} when neither exists.
   */
  #durableFor(method: string): DurableSource {
    if (this.#durable !== undefined) return this.#durable;
    let durable: DurableSource;
    if (this.#source.durable !== undefined) {
      durable = this.#source.durable;
    } else if (this.#pgConfig !== undefined) {
      const { schema = DEFAULT_DURABLE_SCHEMA, retentionMs, pollIntervalMs, connectTimeoutMs, queryTimeoutMs } = this.#durableOptions;
      const options: PgDurableSourceOptions = {
        schema,
        wake$: merge(this.#wake$(durableWakeChannel(schema)), this.resync$),
        ...(retentionMs === undefined ? {} : { retentionMs }),
        ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
        ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
        ...(queryTimeoutMs === undefined ? {} : { queryTimeoutMs }),
      };
      this.#ownDurable = new PgDurableSource(this.#pgConfig, options);
      durable = this.#ownDurable;
    } else {
      throw new DurableUnavailableError(method);
    }
    this.#durable = durable;
    this.#wiring.add(
      durable.errors$.subscribe((error) => {
        this.#reporter.report(error);
      }),
    );
    return durable;
  }

  /**
   * The wake-ups of `channel` from the notifier's own connection: an internal channel (not in the
   * registry, so no view shows it) whose observer makes it LISTENed while the durable part has
   * readers. Payloads raw: the durable channel that has news.
   */
  #wake$(channel: string): Observable<Notification> {
    return new Observable<Notification>((subscriber) => {
      if (this.#closing !== undefined) {
        subscriber.complete();
        return undefined;
      }
      const subscription = this.#router.ensure(channel, true).observe(parseRaw).subscribe(subscriber);
      this.#startIfWanted([channel]);
      return subscription;
    });
  }

  /** A durable `channel$`: each observer reads from its own start, paused while the channel is muted. */
  #durableChannel$(channel: string, parse: PayloadParser, since: unknown): Observable<DurableNotification> {
    const durable = this.#durableFor('channel$');
    const start = startOf(since, durable, channel);
    this.#register([channel]);
    return new Observable<DurableNotification>((subscriber) => {
      if (this.#closing !== undefined) {
        subscriber.complete();
        return undefined;
      }
      this.#change((registry) => reducers.countObserver(registry, channel, 1), true);
      const current = this.#router.ensure(channel);
      const entry = this.#durableReaders.add({ kind: 'observer', channel, delivered: 0 });
      // Where this observer stands: each (re)subscription of the reader, after a mute, resumes here.
      let position: DurableStart | undefined = start === 'now' ? undefined : start;
      if (typeof start === 'object') entry.cursor = start.after;
      // Without `since` it starts now, at subscription, muted or not: the position is asked for at
      // once, and `synced()`/`publish()` wait for the answer.
      const begun =
        start === 'now' && durable.now !== undefined
          ? this.#durableStarts.track(
              durable.now().then(
                (cursor) => {
                  position ??= { after: cursor };
                  entry.cursor ??= cursor;
                  return cursor;
                },
                (error: unknown) => {
                  // Reported here, read or not: a reader then starts at its own first query.
                  this.#reportDurable(error);
                  return undefined;
                },
              ),
            )
          : undefined;
      const read = (): Observable<DurableMessage> =>
        defer(() => {
          if (position !== undefined) return durable.read(channel, position);
          if (begun === undefined) return durable.read(channel, 'now');
          return from(begun).pipe(switchMap((cursor) => durable.read(channel, cursor === undefined ? 'now' : { after: cursor })));
        });
      const subscription = current
        .observeDurable(() => this.#whileRunning(read()))
        .subscribe({
          next: (message) => {
            position = { after: message.cursor };
            entry.cursor = message.cursor;
            let payload: unknown;
            try {
              payload = parse(message.payload, channel);
            } catch (cause) {
              this.#counters.parseErrors++;
              this.#reporter.report(new PayloadParseError(channel, message.payload, { cause }));
              return;
            }
            entry.delivered++;
            this.#counters.delivered++;
            subscriber.next({ channel, payload, pid: message.pid, id: message.id, cursor: message.cursor });
          },
          error: (error: unknown) => {
            subscriber.error(error);
          },
          complete: () => {
            subscriber.complete();
          },
        });
      return () => {
        subscription.unsubscribe();
        this.#durableReaders.delete(entry);
        if (this.#closing === undefined && this.#router.get(channel) === current) {
          this.#change((registry) => reducers.countObserver(registry, channel, -1), true);
        }
      };
    });
  }

  /**
   * A durable subscriber: the (id, channel) pair's consumer, named by the subscriber key, in the
   * channel's Subscription map, switched to EMPTY while it or the channel is muted. Resolves once
   * its stored position exists (messages committed after that reach it).
   */
  #subscribeDurable(
    durable: DurableSource,
    key: string,
    channel: string,
    callback: DurableSubscriberCallback,
    autorun: boolean,
  ): Promise<void> {
    const pair = pairKey(key, channel);
    const stored = subscriberIdOf(key);
    const existing = this.#durablePairs.get(pair);
    if (existing !== undefined) {
      existing.target.callback = callback;
      return Promise.resolve();
    }
    const target = { callback };
    const entry: DurableReaderEntry = { kind: 'subscriber', id: stored, channel, consumer: key, delivered: 0 };
    const changed = this.#change(
      (registry) => reducers.subscribe(registry, stored, key, channel, true),
      autorun,
      () => {
        this.#durablePairs.set(pair, { target, entry });
        this.#durableReaders.add(entry);
        const consume$ = durable
          .consume(key, channel, (message) => this.#handleDurable(stored, channel, target, message))
          .pipe(
            tap((message) => {
              entry.cursor = message.cursor;
              entry.delivered++;
            }),
            catchError((error: unknown) => {
              this.#reportDurable(error);
              return EMPTY;
            }),
          );
        this.#router.ensure(channel).subscribeDurable(key, this.#whileRunning(consume$));
      },
    );
    const ready =
      durable.position === undefined
        ? Promise.resolve()
        : this.#durableStarts.track(durable.position(key, channel)).then(
            (cursor) => {
              entry.cursor ??= cursor;
            },
            (error: unknown) => {
              // Without a stored start, a later one would skip what commits meanwhile: the
              // subscription is undone and the promise rejects, as for bad input.
              this.#undoDurable(key, channel, target);
              throw error instanceof NotifierError
                ? error
                : new ConnectionError(`Storing the start of durable subscriber ${key} on ${JSON.stringify(channel)} failed`, {
                    cause: error,
                    explain: true,
                  });
            },
          );
    return Promise.all([this.#settled(changed, autorun), ready]).then(() => undefined);
  }

  /** Takes back a durable subscription whose start could not be stored, unless it was replaced. */
  #undoDurable(key: string, channel: string, target: { callback: DurableSubscriberCallback }): void {
    if (this.#closing !== undefined || this.#durablePairs.get(pairKey(key, channel))?.target !== target) return;
    this.#change(
      (registry) => reducers.unsubscribe(registry, subscriberIdOf(key), key, [channel]),
      true,
      () => {
        this.#router.get(channel)?.unsubscribe(key);
        this.#dropDurablePair(key, channel);
      },
    );
  }

  /** `source$` while the notifier runs; nothing between `stop()` and `start()` (resubscribed then). */
  #whileRunning<T>(source$: Observable<T>): Observable<T> {
    return this.#durableRunning.pipe(
      distinctUntilChanged(),
      switchMap((running) => (running ? source$ : EMPTY)),
    );
  }

  /** One message for a durable subscriber: parsed, then its callback awaited; never rejects. */
  async #handleDurable(
    id: SubscriberId,
    channel: string,
    target: { callback: DurableSubscriberCallback },
    message: DurableMessage,
  ): Promise<void> {
    let payload: unknown;
    try {
      payload = this.#parse(message.payload, channel);
    } catch (cause) {
      // Counted as handled: a payload that does not parse never will.
      this.#counters.parseErrors++;
      this.#reporter.report(new PayloadParseError(channel, message.payload, { cause }));
      return;
    }
    this.#counters.delivered++;
    try {
      await target.callback(id, channel, payload, message.pid, { id: message.id, cursor: message.cursor });
    } catch (cause) {
      this.#counters.callbackErrors++;
      this.#reporter.report(new SubscriberError(id, channel, { cause }));
    }
  }

  /** Forgets the durable pair (key, channel) here; true when it was one. */
  #dropDurablePair(key: string, channel: string): boolean {
    const pair = this.#durablePairs.get(pairKey(key, channel));
    if (pair === undefined) return false;
    this.#durablePairs.delete(pairKey(key, channel));
    this.#durableReaders.delete(pair.entry);
    return true;
  }

  #reportDurable(error: unknown): void {
    if (this.#closing !== undefined) return;
    this.#reporter.report(
      error instanceof NotifierError ? error : new ConnectionError('A durable reader failed', { cause: error, explain: true }),
    );
  }

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

/** A boolean option (`durable`, `forget`): absent is false; anything but a boolean is refused. */
function booleanOption(value: unknown, option: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${option} must be a boolean, got ${typeof value}`);
  return value;
}

/**
 * Where a durable `channel$` observer starts, from its `since` option; a cursor is checked by the
 * durable part that made it (a cursor of another channel is refused).
 */
function startOf(since: unknown, durable: DurableSource, channel: string): DurableStart {
  if (since === undefined || since === 'now') return 'now';
  if (since === 'earliest') return 'earliest';
  let after: unknown;
  if (typeof since === 'string') after = since;
  else if (typeof since === 'object' && since !== null && 'after' in since) after = since.after;
  else throw new InvalidArgumentError(`since is a cursor, 'earliest' or 'now', got ${since === null ? 'null' : typeof since}`);
  if (typeof after !== 'string' || after === '') throw new InvalidArgumentError(`Not a durable cursor: ${describeValue(after)}`);
  durable.checkCursor?.(after, channel);
  return { after };
}

/** The `durable` option of the constructor, checked. */
function durableOptionsOf(options: unknown): NotifierDurableOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`The durable option must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  return options;
}

function pairKey(key: string, channel: string): string {
  return JSON.stringify([key, channel]);
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
