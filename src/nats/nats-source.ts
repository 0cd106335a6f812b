import type { Msg, NatsConnection, Subscription as NatsSubscription } from '@nats-io/transport-node';
import type { ClientConfig } from 'pg';
import pg from 'pg';
import { BehaviorSubject, defer, from, Subject, throwError, type Observable, type ObservableInput } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import { NotifierClosedError } from '../errors/notifier-closed-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { pgNotifyQuery } from '../payload/serialize.js';
import { backoffDelay, defaultReconnectOptions } from '../source/backoff.js';
import { PgDurableSource } from '../durable/pg-durable-source.js';
import type { NotificationSource, RawNotification, SourceState } from '../source/notification-source.js';
import { HEADER, headerOf, type RelayAnnouncement } from './headers.js';
import { closeNats, connectNats, isNatsConnection, serverList, settleWrites, type NatsOption } from './nats-connection.js';
import { NatsDurable } from './nats-durable.js';
import { NoDatabaseError } from './no-database-error.js';
import { plainSubject, relaySubject, validateSubjectPrefix } from './subject-token.js';

/** Options of {@link NatsSource}. */
export interface NatsSourceOptions {
  /** A NATS connection you made (and close yourself), or `{ servers }` for one the source makes and closes. */
  readonly nats?: NatsOption;
  /** Shorthand for `nats: { servers }`. */
  readonly servers?: string | readonly string[] | undefined;
  /** The relay's subject prefix. @defaultValue 'pgnotifier' */
  readonly subjectPrefix?: string;
  /** The relay's JetStream stream, for durable channels. @defaultValue 'PGNOTIFIER' */
  readonly stream?: string;
  /**
   * PostgreSQL, for `notify()` (and durable `publish()`): they go through the database, and the
   * relay carries them to NATS. Without it they throw {@link NoDatabaseError}.
   */
  readonly connection?: string | ClientConfig | undefined;
  /**
   * The PostgreSQL outbox that durable `publish()` stores into, in the database of `connection`
   * (the relay carries it to JetStream): its schema, as the relay's `outbox.schema`.
   */
  readonly outbox?: {
    /** The outbox schema. @defaultValue 'pgnotifier' */
    readonly schema?: string;
  };
}

/** What {@link NatsSource.status} reports: a fresh, JSON-serialisable snapshot. */
export interface NatsSourceStatus {
  /** The NATS connection is up. */
  readonly connected: boolean;
  /** The NATS server connected to, while connected. */
  readonly server: string | undefined;
  /** Plain notifications received since the source was created. */
  readonly received: number;
  /** Channels subscribed on NATS now. */
  readonly channels: number;
  /** The leading relay, as last announced; `undefined` before any announcement arrived. */
  readonly leader:
    | {
        /** The leading relay's id. */
        readonly relay: string;
        /** When it took the lead (ISO 8601). */
        readonly since: string;
        /** When its last announcement arrived here (ISO 8601); announcements come every 2 s. */
        readonly lastSeen: string;
      }
    | undefined;
  /** How many relay takeovers were seen (each makes the notifier's `resync$` fire). */
  readonly takeovers: number;
  /** Durable channels: messages received, and the lag of each consumed (consumer, channel). */
  readonly durable: ReturnType<NatsDurable['status']>;
}

/**
 * A {@link NotificationSource} fed by a pgnotifier relay through NATS: the same `Notifier` API on
 * app instances that hold no PostgreSQL connection. LISTEN and UNLISTEN become subscribe and
 * unsubscribe on the channel's subject `<prefix>.p.<token>`; `state$` follows the NATS
 * connection; a relay takeover (notifications may have been lost in between, as with a lost
 * PostgreSQL connection) starts a new session, so the notifier's `resync$` fires.
 *
 * @example
 * ```ts
 * import { Notifier } from 'pgnotifier';
 * import { NatsSource } from 'pgnotifier/nats';
 *
 * const notifier = new Notifier(new NatsSource({ servers: 'nats://127.0.0.1:4222' }));
 * notifier.channel$('orders').subscribe((n) => console.log(n.payload));
 * ```
 */
export class NatsSource implements NotificationSource {
  readonly #option: NatsOption;
  readonly #prefix: string;
  readonly #notifications = new Subject<RawNotification>();
  readonly #state = new BehaviorSubject<SourceState>({ status: 'idle' });
  /** Per subject: the NATS subscription and the session whose LISTEN it serves. */
  readonly #subscriptions = new Map<string, { readonly subscription: NatsSubscription; session: number }>();
  readonly #connection: ClientConfig | undefined;
  #nc: NatsConnection | undefined;
  #announcements: NatsSubscription | undefined;
  #run = 0;
  #sessions = 0;
  #received = 0;
  #takeovers = 0;
  #leader: { relay: string; since: string; lastSeen: string } | undefined;
  #sender: pg.Pool | undefined;
  readonly #outbox: PgDurableSource | undefined;
  /** Calls waiting for a connection (the durable part's): resolved on connect, rejected by `dispose()`. */
  #waiters: { resolve: (nc: NatsConnection) => void; reject: (error: Error) => void }[] = [];
  #disposed = false;

  readonly notifications$: Observable<RawNotification> = this.#notifications.asObservable();
  readonly state$: Observable<SourceState> = this.#state.asObservable();
  /** Durable channels: JetStream consumers on the relay's stream. */
  readonly durable: NatsDurable;

  /** @throws `InvalidArgumentError` for missing servers or a bad subject prefix. */
  constructor(options: NatsSourceOptions) {
    const nats = options.nats ?? (options.servers === undefined ? undefined : { servers: options.servers });
    if (nats === undefined) throw new InvalidArgumentError('NatsSource needs nats (a NatsConnection or { servers }) or servers');
    if (!isNatsConnection(nats)) serverList(nats);
    this.#option = nats;
    this.#prefix = validateSubjectPrefix(options.subjectPrefix ?? 'pgnotifier');
    this.#connection =
      options.connection === undefined
        ? undefined
        : typeof options.connection === 'string'
          ? { connectionString: options.connection }
          : { ...options.connection };
    if (options.outbox !== undefined && this.#connection === undefined)
      throw new InvalidArgumentError('NatsSource: outbox needs connection, the database the outbox is in');
    // Its pools connect on the first publish (or install): nothing is opened for a source that only receives.
    this.#outbox =
      this.#connection === undefined
        ? undefined
        : new PgDurableSource(this.#connection, {
            ...(options.outbox?.schema === undefined ? {} : { schema: options.outbox.schema }),
            poolSize: 2,
          });
    this.durable = new NatsDurable({
      nats: () => this.#connected(),
      subjectPrefix: this.#prefix,
      ...(options.stream === undefined ? {} : { stream: options.stream }),
      ...(this.#outbox === undefined ? {} : { outbox: this.#outbox }),
    });
  }

  /** Counts, the NATS connection and the leading relay. */
  status(): NatsSourceStatus {
    const nc = this.#nc;
    const connected = this.#state.getValue().status === 'connected';
    return {
      connected,
      server: connected && nc !== undefined ? nc.getServer() : undefined,
      received: this.#received,
      channels: this.#subscriptions.size,
      leader: this.#leader === undefined ? undefined : { ...this.#leader },
      takeovers: this.#takeovers,
      durable: this.durable.status(),
    };
  }

  start(): void {
    const { status } = this.#state.getValue();
    if (this.#disposed || status === 'connecting' || status === 'connected' || status === 'reconnecting') return;
    const run = ++this.#run;
    this.#state.next({ status: 'connecting', attempt: 1 });
    void this.#open(run);
  }

  async stop(): Promise<void> {
    this.#run++;
    const nc = this.#nc;
    this.#nc = undefined;
    const owned = !isNatsConnection(this.#option);
    // Closing a connection of our own drops its subscriptions on both sides: no UNSUB is written
    // to a server that may be gone (see settleWrites for why a write before a close matters).
    this.#dropSubscriptions(!owned);
    if (this.#state.getValue().status !== 'stopped') this.#state.next({ status: 'stopped' });
    if (nc === undefined) return;
    // A connection we were given is closed by its owner, maybe as soon as this resolves.
    await (owned ? closeNats(nc) : settleWrites());
  }

  recycle(reason: Error): void {
    // Nothing on NATS can be refused the way a LISTEN on a standby is; start a new session anyway.
    if (this.#state.getValue().status !== 'connected') return;
    this.#state.next({ status: 'reconnecting', attempt: 1, error: reason });
    this.#newSession();
  }

  listen(channel: string): ObservableInput<unknown> {
    return defer(() => {
      const nc = this.#nc;
      if (nc === undefined || this.#state.getValue().status !== 'connected')
        return throwError(() => new ConnectionError('Not connected to NATS'));
      const subject = plainSubject(this.#prefix, channel);
      const kept = this.#subscriptions.get(subject);
      if (kept !== undefined) {
        // Kept across the session change: nothing sent meanwhile was dropped here.
        kept.session = this.#sessions;
      } else {
        const run = this.#run;
        const subscription = nc.subscribe(subject, {
          callback: (error, msg) => {
            // After stop(), a connection of our own delivers until it is closed.
            if (error === null && run === this.#run) this.#deliver(channel, msg);
          },
        });
        this.#subscriptions.set(subject, { subscription, session: this.#sessions });
      }
      // The server has the subscription once it answered a PING sent after it.
      return from(nc.flush());
    });
  }

  unlisten(channel: string): ObservableInput<unknown> {
    return defer(() => {
      const subject = plainSubject(this.#prefix, channel);
      this.#subscriptions.get(subject)?.subscription.unsubscribe();
      this.#subscriptions.delete(subject);
      const nc = this.#nc;
      if (nc === undefined || this.#state.getValue().status !== 'connected')
        return throwError(() => new ConnectionError('Not connected to NATS'));
      return from(nc.flush());
    });
  }

  /** @throws {@link NoDatabaseError} when the source was given no PostgreSQL `connection`. */
  send(channel: string, payload: string): Promise<void> {
    const sender = this.#senderPool('notify()');
    return sender.query(pgNotifyQuery(channel, payload)).then(() => undefined);
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    // Never to connect now: what waits for a connection (a durable subscribe, its start) fails.
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new NotifierClosedError('durable'));
    await this.stop();
    this.durable.close();
    await this.#outbox?.close();
    this.#notifications.complete();
    this.#state.complete();
    const sender = this.#sender;
    this.#sender = undefined;
    await sender?.end();
  }

  // ─── Internals ──────────────────────────────────────────────────────────────────────────────

  #deliver(channel: string, msg: Msg): void {
    this.#received++;
    const pid = Number(headerOf(msg, HEADER.pid) ?? 0);
    this.#notifications.next({ channel, payload: msg.string(), pid });
  }

  async #open(run: number): Promise<void> {
    const option = this.#option;
    let nc: NatsConnection | undefined;
    for (let attempt = 1; nc === undefined; attempt++) {
      try {
        nc = isNatsConnection(option) ? option : await connectNats(serverList(option), 'pgnotifier-source');
      } catch (error) {
        if (run !== this.#run) return;
        this.#state.next({
          status: 'connecting',
          attempt: attempt + 1,
          error: new ConnectionError('Cannot connect to NATS', { cause: error, explain: true }),
        });
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, defaultReconnectOptions)));
        if (run !== this.#run) return;
      }
    }
    if (run !== this.#run) {
      if (!isNatsConnection(option)) await closeNats(nc);
      return;
    }
    if (nc.isClosed()) {
      this.#state.next({ status: 'stopped' });
      return;
    }
    this.#nc = nc;
    this.#watch(nc, run);
    this.#announcements = nc.subscribe(relaySubject(this.#prefix), {
      callback: (error, msg) => {
        if (error === null && run === this.#run) this.#onAnnouncement(msg);
      },
    });
    this.#state.next({ status: 'connected', session: ++this.#sessions });
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(nc);
  }

  #watch(nc: NatsConnection, run: number): void {
    void (async () => {
      let attempt = 0;
      for await (const status of nc.status()) {
        if (run !== this.#run) return;
        switch (status.type) {
          case 'disconnect':
            attempt = 1;
            this.#state.next({
              status: 'reconnecting',
              attempt,
              // The client is not told why: a slow consumer's connection is simply closed by the server.
              error: new ConnectionError(
                `Lost the NATS connection to ${status.server}: the server or the network failed, or this process fell behind and the server dropped it as a slow consumer (its log says "Slow Consumer Detected"); notifications sent until the reconnect are lost`,
              ),
            });
            break;
          case 'reconnecting':
            if (attempt > 0) this.#state.next({ status: 'reconnecting', attempt: ++attempt });
            break;
          case 'reconnect':
            // The client subscribed everything again; what was sent in between is lost.
            attempt = 0;
            this.#newSession();
            break;
          default:
            break;
        }
      }
      // The iterator ends when the connection closes: someone closed a connection we were given.
      if (run === this.#run) {
        this.#nc = undefined;
        this.#dropSubscriptions();
        this.#state.next({ status: 'stopped' });
      }
    })().catch(() => undefined);
  }

  #onAnnouncement(msg: Msg): void {
    let announcement: RelayAnnouncement;
    try {
      announcement = msg.json<RelayAnnouncement>();
    } catch {
      return;
    }
    this.#leader = { relay: announcement.relay, since: announcement.since, lastSeen: new Date().toISOString() };
    if (announcement.takeover && this.#state.getValue().status === 'connected') {
      // A new leader: notifications sent while there was none are lost. A new session makes the
      // notifier subscribe again (kept subscriptions stay) and emit resync$.
      this.#takeovers++;
      this.#newSession();
    }
  }

  /**
   * A new session on a connection that keeps its subscriptions (NATS resubscribes them itself):
   * the notifier LISTENs what it wants again, at once, which keeps those; what it did not LISTEN
   * again (a channel given up meanwhile, whose UNLISTEN was never sent as the old session was
   * over) is unsubscribed, else it would stay subscribed for good. A wanted channel LISTENed later
   * than that is simply subscribed again.
   */
  #newSession(): void {
    const session = ++this.#sessions;
    this.#state.next({ status: 'connected', session });
    for (const [subject, entry] of this.#subscriptions) {
      if (entry.session === session) continue;
      entry.subscription.unsubscribe();
      this.#subscriptions.delete(subject);
    }
  }

  /** Forgets every subscription; `unsubscribe`: on the server too (not needed when the connection closes next). */
  #dropSubscriptions(unsubscribe = true): void {
    if (unsubscribe) {
      this.#announcements?.unsubscribe();
      for (const { subscription } of this.#subscriptions.values()) subscription.unsubscribe();
    }
    this.#announcements = undefined;
    this.#subscriptions.clear();
  }

  #connected(): Promise<NatsConnection> {
    const nc = this.#nc;
    if (nc !== undefined) return Promise.resolve(nc);
    if (this.#disposed) return Promise.reject(new NotifierClosedError('durable'));
    // Waiting first: with a NatsConnection given, start() connects synchronously.
    const connected = new Promise<NatsConnection>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.start();
    return connected;
  }

  #senderPool(what: string): pg.Pool {
    if (this.#connection === undefined) throw new NoDatabaseError(what);
    if (this.#sender === undefined) {
      const pool = new pg.Pool({ ...this.#connection, max: 2, idleTimeoutMillis: 5_000, allowExitOnIdle: true });
      pool.on('error', () => undefined);
      this.#sender = pool;
    }
    return this.#sender;
  }
}
