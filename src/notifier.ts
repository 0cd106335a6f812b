import type { ClientConfig } from 'pg';
import { BehaviorSubject, Observable, Subject, Subscription, type Subscriber } from 'rxjs';

import { channelList, validateChannel } from './channel-name.js';
import { ConnectionError } from './errors/connection-error.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { NotifierClosedError } from './errors/notifier-closed-error.js';
import type { NotifierError } from './errors/notifier-error.js';
import type { ChangeOptions, ChannelOptions, NotifierOptions } from './notifier-options.js';
import { parseJsonOrRaw, resolveParser } from './payload/parsers.js';
import { serializePayload } from './payload/serialize.js';
import { newCounters, type Counters } from './routing/counters.js';
import type { ChannelHub } from './routing/channel-hub.js';
import { Router } from './routing/router.js';
import type { NotificationSource, SourceState } from './source/notification-source.js';
import { PgListenSource } from './source/pg-listen-source.js';
import type { ServerStatus } from './source/server-status.js';
import * as reducers from './state/reducers.js';
import { RegistryStore } from './state/registry-store.js';
import { wantsListen, type Registry } from './state/registry.js';
import { subscriberIdOf, subscriberKey } from './state/subscriber-id.js';
import * as views from './state/views.js';
import type { NotifierStatus } from './status.js';
import { ListenReconciler } from './sync/listen-reconciler.js';
import type { ConnectionState, Notification, PayloadParser, SubscriberCallback, SubscriberId } from './types.js';

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
 * @example
 * ```ts
 * import { Notifier } from 'pgnotifier';
 *
 * const notifier = new Notifier(process.env.DATABASE_URL);
 * notifier.channel$('orders').subscribe((n) => console.log(n.payload));
 * await notifier.subscribe('audit', 'orders', (id, channel, payload, pid) => console.log(id, payload));
 * // SELECT pg_notify('orders', '{"id":42}') elsewhere logs { id: 42 } twice
 * await notifier.close();
 * ```
 */
export class Notifier {
  readonly #source: NotificationSource;
  readonly #store = new RegistryStore();
  readonly #counters: Counters = newCounters();
  readonly #errors = new Subject<NotifierError>();
  readonly #state = new BehaviorSubject<ConnectionState>({ status: 'idle' });
  readonly #parse: PayloadParser;
  readonly #router: Router;
  readonly #reconciler: ListenReconciler;
  readonly #warned = new Set<string>();
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
  readonly errors$: Observable<NotifierError> = this.#errors.asObservable();

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
   * Emits after a lost connection was replaced and every channel is LISTENed again (not on the
   * first connect). Notifications sent while the connection was down are lost, PostgreSQL keeps
   * none: re-read what you may have missed here.
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
    this.#router = new Router({
      parse: this.#parse,
      report: (error) => {
        this.#report(error);
      },
      counters: this.#counters,
    });
    this.#wiring.add(
      this.#store.commits$.subscribe((commit) => {
        this.#router.sync(commit.registry, commit.changed);
      }),
    );
    this.#reconciler = new ListenReconciler(this.#source, this.#store.commits$, () => this.#store.registry);
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
        this.#report(error);
      }),
    );
  }

  // ─── Consuming ──────────────────────────────────────────────────────────────────────────────

  /**
   * A channel as a hot Observable of its notifications. Registers the channel if needed. Each
   * observer counts as a consumer: the first one makes the channel LISTENed (unless it is muted),
   * the last one leaving UNLISTENs it (unless callback subscribers remain); many observers share
   * one LISTEN. Muting the channel silences its observers without completing them;
   * `removeChannels` and `close()` complete them.
   *
   * @example
   * ```ts
   * notifier
   *   .channel$<{ id: number }>('orders')
   *   .pipe(map((n) => n.payload.id), bufferTime(100))
   *   .subscribe((ids) => console.log('changed:', ids));
   * ```
   *
   * @param channel - the channel name, case-exact as `pg_notify` names it.
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError}, {@link NotifierClosedError}
   */
  channel$<T = unknown>(channel: string, options: ChannelOptions<T> = {}): Observable<Notification<T>> {
    this.#assertOpen('channel$');
    validateChannel(channel);
    const parse = options.parse === undefined ? undefined : resolveParser(options.parse, this.#parse as PayloadParser<T>);
    this.#store.apply((registry) => reducers.addChannels(registry, [channel]));
    // Observers of one channel$ call with its own parser share one parse of each notification.
    let custom: { hub: ChannelHub; stream: Observable<Notification<T>> } | undefined;
    const counters = this.#counters;
    const observeWith = (own: PayloadParser<T>, hub: ChannelHub, subscriber: Subscriber<Notification<T>>): void => {
      if (custom?.hub !== hub) custom = { hub, stream: hub.parsedWith(own) };
      const inner = custom.stream.subscribe({
        next: (notification) => {
          counters.delivered++;
          subscriber.next(notification);
        },
        complete: () => {
          subscriber.complete();
        },
      });
      subscriber.add(inner);
    };
    return new Observable<Notification<T>>((subscriber) => {
      if (this.#closing !== undefined) {
        subscriber.complete();
        return undefined;
      }
      void this.#change((registry) => reducers.countObserver(registry, channel, 1), true);
      const hub = this.#router.hub(channel);
      if (hub === undefined) throw new Error(`pgnotifier: no hub for registered channel ${channel}`);
      // Either way the observer leaves the hub when its subscription ends.
      if (parse === undefined) hub.observe(subscriber);
      else observeWith(parse, hub, subscriber);
      return () => {
        // An observer of a channel that was removed (and perhaps registered again) no longer counts.
        if (this.#closing === undefined && this.#router.hub(channel) === hub) {
          void this.#change((registry) => reducers.countObserver(registry, channel, -1), true);
        }
      };
    });
  }

  // ─── Registry ───────────────────────────────────────────────────────────────────────────────

  /**
   * Registers channels. Existing ones keep their state. A channel without consumers is not
   * LISTENed, so this needs no server work.
   *
   * @param channels - a channel name or any iterable of them.
   * @throws {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  addChannels(channels: string | Iterable<string>): Promise<void> {
    this.#assertOpen('addChannels');
    const list = channelList(channels);
    return this.#change((registry) => reducers.addChannels(registry, list), true);
  }

  /**
   * Removes channels with all their subscribers, and completes their `channel$` observers.
   * Channels that are not registered are ignored.
   *
   * @throws {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  removeChannels(channels: string | Iterable<string>, options: ChangeOptions = {}): Promise<void> {
    this.#assertOpen('removeChannels');
    const list = channelList(channels);
    return this.#change((registry) => reducers.removeChannels(registry, list), autorunOf(options));
  }

  /**
   * Subscribes a callback to a channel under an id, registering the channel if needed. The same
   * id may subscribe to many channels, each with its own callback; subscribing the same
   * (id, channel) again replaces its callback and keeps its mute state. A callback that throws
   * (or whose promise rejects) is reported on `errors$`; the others still run.
   *
   * @example
   * ```ts
   * await notifier.subscribe(['mailer', 1], 'orders', async (id, channel, payload) => {
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
  subscribe(id: SubscriberId, channel: string, callback: SubscriberCallback, options: ChangeOptions = {}): Promise<void> {
    this.#assertOpen('subscribe');
    const key = subscriberKey(id);
    validateChannel(channel);
    if (typeof callback !== 'function') throw new InvalidArgumentError(`The callback must be a function, got ${typeof callback}`);
    const stored = subscriberIdOf(key);
    return this.#change((registry) => reducers.subscribe(registry, stored, key, channel, callback), autorunOf(options));
  }

  /**
   * Unsubscribes an id from one channel (or several), or from all of its channels when none is
   * given. Other pairs of the id are untouched. The channel stays registered.
   *
   * @throws {@link UnknownSubscriberError}, {@link UnknownChannelError}, {@link InvalidArgumentError},
   * {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unsubscribe(id: SubscriberId, channels?: string | Iterable<string>, options: ChangeOptions = {}): Promise<void> {
    this.#assertOpen('unsubscribe');
    const key = subscriberKey(id);
    const list = channels === undefined ? undefined : channelList(channels);
    return this.#change((registry) => reducers.unsubscribe(registry, subscriberIdOf(key), key, list), autorunOf(options));
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
  muteChannels(channels?: string | Iterable<string>): Promise<void> {
    return this.#muteChannels('muteChannels', channels, true);
  }

  /**
   * Unmutes channels (all when none are given; an empty list unmutes none). A channel is LISTENed
   * again if it has a non-muted consumer.
   *
   * @throws {@link UnknownChannelError}, {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unmuteChannels(channels?: string | Iterable<string>): Promise<void> {
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
  muteSubscriber(id: SubscriberId, channels?: string | Iterable<string>): Promise<void> {
    return this.#muteSubscriber('muteSubscriber', id, channels, true);
  }

  /**
   * Unmutes a subscriber on channels (all of its channels when none are given).
   *
   * @throws {@link UnknownSubscriberError}, {@link UnknownChannelError}, {@link InvalidArgumentError},
   * {@link InvalidChannelError}, {@link NotifierClosedError}
   */
  unmuteSubscriber(id: SubscriberId, channels?: string | Iterable<string>): Promise<void> {
    return this.#muteSubscriber('unmuteSubscriber', id, channels, false);
  }

  // ─── Views ──────────────────────────────────────────────────────────────────────────────────

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
  mutedChannels(channels?: string | Iterable<string>): string[] {
    return views.channelsByMute(this.#store.registry, optionalList(channels), true);
  }

  /** The non-muted channels among `channels` (all when none are given). @throws {@link UnknownChannelError} */
  nonMutedChannels(channels?: string | Iterable<string>): string[] {
    return views.channelsByMute(this.#store.registry, optionalList(channels), false);
  }

  /** For each of `channels` (all when none are given), its muted subscriber ids. @throws {@link UnknownChannelError} */
  mutedSubscribers(channels?: string | Iterable<string>): Record<string, SubscriberId[]> {
    return views.subscribersByMute(this.#store.registry, optionalList(channels), true);
  }

  /** For each of `channels` (all when none are given), its non-muted subscriber ids. @throws {@link UnknownChannelError} */
  nonMutedSubscribers(channels?: string | Iterable<string>): Record<string, SubscriberId[]> {
    return views.subscribersByMute(this.#store.registry, optionalList(channels), false);
  }

  /**
   * Running flag, connection state, channels, subscriber counts and counters: a JSON-serialisable
   * snapshot for a health endpoint or a log line.
   *
   * @example
   * ```ts
   * http.createServer((req, res) => res.end(JSON.stringify(notifier.status()))).listen(9090);
   * ```
   */
  status(): NotifierStatus {
    const registry: Registry = this.#store.registry;
    let subscriptions = 0;
    let observers = 0;
    for (const entry of registry.channels.values()) {
      subscriptions += entry.subscribers.size;
      observers += entry.observers;
    }
    return {
      running: this.isRunning(),
      connection: { ...this.#state.getValue() },
      channels: registry.channels.size,
      activeChannels: this.activeChannels(),
      mutedChannels: views.channelsByMute(registry, undefined, true),
      subscribers: registry.subscriptions.size,
      subscriptions,
      observers,
      counters: { ...this.#counters },
      ...serverOf(this.#source),
    };
  }

  // ─── Lifecycle ──────────────────────────────────────────────────────────────────────────────

  /**
   * Connects (retrying forever) and LISTENs every channel that should be; resolves once that is
   * done. Changes made while stopped are applied now. The first change that needs the server
   * starts a notifier that was never started, so calling this is optional until a `stop()`.
   *
   * @throws {@link NotifierClosedError}
   */
  start(): Promise<void> {
    this.#assertOpen('start');
    this.#startRequested = true;
    this.#source.start();
    return this.#reconciler.synced();
  }

  /**
   * Closes the connection, cancelling any connect or backoff in flight, and keeps the registry.
   * The notifier stays stopped until `start()` or `restart()`.
   *
   * @throws {@link NotifierClosedError}
   */
  async stop(): Promise<void> {
    this.#assertOpen('stop');
    this.#startRequested = true;
    await this.#source.stop();
  }

  /** Closes the connection and opens a new one, LISTENing from the registry. @throws {@link NotifierClosedError} */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
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
  notify(channel: string, payload?: unknown): Promise<void> {
    this.#assertOpen('notify');
    validateChannel(channel);
    return this.#source.send(channel, serializePayload(channel, payload));
  }

  /**
   * Stops for good: closes the connection, completes every Observable, releases every timer and
   * socket, so the process can exit. Calling it again is harmless; any other method then throws
   * {@link NotifierClosedError}.
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
    try {
      await this.#source.dispose();
    } finally {
      this.#state.next({ status: 'closed' });
      this.#state.complete();
      this.#errors.complete();
      this.#store.close();
      this.#wiring.unsubscribe();
    }
  }

  // ─── Internals ──────────────────────────────────────────────────────────────────────────────

  #change(reducer: (registry: Registry) => reducers.Change, autorun: boolean): Promise<void> {
    const { registry, changed } = this.#store.apply(reducer, autorun);
    // A notifier that was never started starts on the first change that needs the server.
    if (autorun && !this.#startRequested && changed.some((channel) => wantsListen(registry.channels.get(channel)))) {
      this.#startRequested = true;
      this.#source.start();
    }
    return this.#reconciler.synced();
  }

  #muteChannels(method: string, channels: string | Iterable<string> | undefined, muted: boolean): Promise<void> {
    this.#assertOpen(method);
    const list = optionalList(channels);
    return this.#change((registry) => reducers.setChannelsMuted(registry, list, muted), true);
  }

  #muteSubscriber(method: string, id: SubscriberId, channels: string | Iterable<string> | undefined, muted: boolean): Promise<void> {
    this.#assertOpen(method);
    const key = subscriberKey(id);
    const list = optionalList(channels);
    return this.#change((registry) => reducers.setSubscriberMuted(registry, subscriberIdOf(key), key, list, muted), true);
  }

  #onSourceState(state: SourceState): void {
    if (this.#closing !== undefined && state.status !== 'closed') return;
    const { status, attempt, error } = state;
    this.#state.next({ status, ...(attempt === undefined ? {} : { attempt }), ...(error === undefined ? {} : { error }) });
    if (error !== undefined) {
      this.#counters.connectionErrors++;
      this.#report(error instanceof ConnectionError ? error : new ConnectionError('Connection problem', { cause: error, explain: true }));
    }
  }

  #report(error: NotifierError): void {
    if (this.#errors.observed) {
      this.#errors.next(error);
    } else if (!this.#warned.has(error.name)) {
      // Nothing listens: say it once per kind rather than fail silently (or crash).
      this.#warned.add(error.name);
      process.emitWarning(
        `${error.message} (subscribe to notifier.errors$ to handle these; all are counted in status().counters)`,
        error.name,
      );
    }
  }

  #assertOpen(method: string): void {
    if (this.#closing !== undefined) throw new NotifierClosedError(method);
  }
}

function autorunOf(options: ChangeOptions): boolean {
  const { autorun = true } = options;
  if (typeof autorun !== 'boolean') throw new InvalidArgumentError(`autorun must be a boolean, got ${typeof autorun}`);
  return autorun;
}

function optionalList(channels: string | Iterable<string> | undefined): string[] | undefined {
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
