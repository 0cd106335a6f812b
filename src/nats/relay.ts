import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import { jetstream, type PubAck } from '@nats-io/jetstream';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { ClientConfig } from 'pg';
import type pg from 'pg';
import { BehaviorSubject, Subscription, type Observable } from 'rxjs';

import { channelList } from '../channel-name.js';
import { DEFAULT_DURABLE_SCHEMA } from '../durable/durable-schema-sql.js';
import { PgDurableSource } from '../durable/pg-durable-source.js';
import type { NotifierDurableOptions } from '../notifier-options.js';
import { ConnectionError } from '../errors/connection-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { messageOf } from '../errors/message-of.js';
import { Notifier } from '../notifier.js';
import { backoffDelay, defaultReconnectOptions } from '../source/backoff.js';
import type { DurableMessage } from '../source/durable-source.js';
import type { Notification } from '../types.js';
import { ANNOUNCE_INTERVAL_MS, HEADER, type RelayAnnouncement } from './headers.js';
import { LOCK_QUERY, lockClient, type LockTiming } from './lock-connection.js';
import { closeNats, connectNats, isNatsConnection, serverList, settleWrites, type NatsOption } from './nats-connection.js';
import type { RelayRole, RelayState, RelayStatus } from './relay-status.js';
import { ensureStream, validateStreamLimits, validateStreamName, type StreamLimits } from './stream.js';
import { durableSubject, plainSubject, relaySubject, validateSubjectPrefix } from './subject-token.js';

/** Options of {@link relay}. */
export interface RelayOptions {
  /** PostgreSQL: a connection string or a pg `ClientConfig`. */
  readonly connection: string | ClientConfig;
  /** NATS: a `NatsConnection` you made (and close yourself), or `{ servers }`. */
  readonly nats: NatsOption;
  /** Plain channels: LISTENed by the leading relay, published to `<prefix>.p.<token>`. */
  readonly channels?: Iterable<string>;
  /**
   * Durable channels: read by the leading relay from the PostgreSQL outbox of the same database
   * (the tables of `durableSchemaSql`, see {@link RelayOptions.outbox}), published to the stream
   * as `<prefix>.d.<token>`.
   */
  readonly durableChannels?: Iterable<string>;
  /** The subject prefix; relays with the same prefix elect one leader. @defaultValue 'pgnotifier' */
  readonly subjectPrefix?: string;
  /** The JetStream stream for durable channels, created over `<prefix>.d.>` when absent. @defaultValue 'PGNOTIFIER' */
  readonly stream?: string;
  /** Limits of the stream when the relay creates it (max age, duplicate window). */
  readonly streamLimits?: StreamLimits;
  /**
   * The PostgreSQL outbox that durable channels are read from, in the database of `connection`:
   * its schema (default `'pgnotifier'`, part of each message's `Nats-Msg-Id`; created by the relay
   * where missing) and reading options. Wake-ups come on the leader's listening connection.
   */
  readonly outbox?: RelayOutboxOptions;
  /** This relay's id in status and announcements. @defaultValue `<host>:<pid>:<random>` */
  readonly id?: string;
  /** The `application_name` of the relay's PostgreSQL sessions. @defaultValue 'pgnotifier-relay' */
  readonly applicationName?: string;
  /** How fast a leader notices a lost lock connection. */
  readonly lock?: LockTiming;
  /** How often a follower tries the lock, in milliseconds. @defaultValue 500 */
  readonly followerPollMs?: number;
}

/** The outbox options of {@link RelayOptions}: the durable options of the leader's notifier. */
export type RelayOutboxOptions = NotifierDurableOptions;

/** A running relay, from {@link relay}. */
export interface Relay {
  /** This relay's id. */
  readonly id: string;
  /** Its role, current value first; completes on `close()`. */
  readonly state$: Observable<RelayState>;
  /** Counts, role and leader. */
  status(): RelayStatus;
  /** Steps down if leading, closes every connection it made; resolves once they are closed. */
  close(): Promise<void>;
}

/**
 * Starts a relay: PostgreSQL notifications into NATS, so that many consumers
 * (`new Notifier(new NatsSource(...))`) cost the database one listening connection.
 *
 * Relays with the same subject prefix elect one leader through a session advisory lock on a
 * PostgreSQL connection of their own (with keepalives short enough that a leader lost to the
 * network loses the lock within seconds). Only the leader LISTENs the plain channels and
 * publishes them to core NATS (at most once, like LISTEN); a leader that can no longer reach
 * PostgreSQL or NATS steps down, and each new leader announces a takeover on `<prefix>.relay`,
 * which makes the consumers' `resync$` fire. Durable channels are read from the PostgreSQL
 * outbox by the leader, from one position stored in the database that every relay shares (a new
 * leader resumes where the last one stored it), and published to JetStream with `Nats-Msg-Id` =
 * `<system identifier>:<database oid>:<schema>:<message id>`: what a dead leader published but
 * had not yet stored is dropped by the stream's duplicate window when the next one publishes it again.
 *
 * @example
 * ```ts
 * import { relay } from 'pgnotifier/nats';
 *
 * const r = await relay({ connection: { connectionString: process.env.DATABASE_URL }, nats: { servers: 'nats://127.0.0.1:4222' }, channels: ['orders'] });
 * process.once('SIGTERM', () => void r.close());
 * ```
 *
 * @throws `InvalidArgumentError` for bad options; {@link ConnectionError} when NATS cannot
 * be reached at the start (PostgreSQL is retried forever, as the notifier does).
 */
export async function relay(options: RelayOptions): Promise<Relay> {
  const settings = resolveOptions(options);
  let nc: NatsConnection;
  let owned = false;
  if (isNatsConnection(options.nats)) {
    nc = options.nats;
  } else {
    const servers = serverList(options.nats);
    try {
      nc = await connectNats(servers, `pgnotifier-relay ${settings.id}`);
      owned = true;
    } catch (error) {
      throw new ConnectionError(`Cannot reach NATS at ${servers.join(', ')}`, { cause: error, explain: true });
    }
  }
  const runner = new RelayRunner(settings, nc, owned);
  try {
    await runner.startDurable();
  } catch (error) {
    await runner.close();
    throw error;
  }
  runner.start();
  return runner;
}

interface Settings {
  readonly id: string;
  readonly config: ClientConfig;
  readonly prefix: string;
  readonly stream: string;
  readonly channels: readonly string[];
  readonly durableChannels: readonly string[];
  readonly limits: StreamLimits;
  readonly outbox: RelayOutboxOptions;
  readonly schema: string;
  readonly timing: Required<LockTiming>;
  readonly pollMs: number;
}

function resolveOptions(options: RelayOptions): Settings {
  // JavaScript callers may pass anything.
  if (typeof (options as unknown) !== 'object') throw new InvalidArgumentError('relay() needs options: { connection, nats, channels }');
  const { connection } = options;
  if (typeof connection !== 'string' && (typeof connection !== 'object' || (connection as unknown) === null)) {
    throw new InvalidArgumentError('relay() needs connection: a PostgreSQL connection string or a pg ClientConfig');
  }
  if (!isNatsConnection(options.nats)) serverList(options.nats);
  const channels = options.channels === undefined ? [] : channelList(options.channels);
  const durableChannels = options.durableChannels === undefined ? [] : channelList(options.durableChannels);
  if (channels.length + durableChannels.length === 0)
    throw new InvalidArgumentError('relay() needs at least one channel (channels or durableChannels)');
  const base = typeof connection === 'string' ? { connectionString: connection } : { ...connection };
  const outbox: RelayOutboxOptions = options.outbox ?? {};
  if (typeof (outbox as unknown) !== 'object' || (outbox as unknown) === null)
    throw new InvalidArgumentError('outbox must be an object: { schema, retentionMs, pollIntervalMs }');
  const schema = outbox.schema ?? DEFAULT_DURABLE_SCHEMA;
  // Checks the schema and every other outbox option now (InvalidArgumentError); a pool connects
  // only when it is first used, so this one costs nothing.
  void new PgDurableSource(base, { ...outbox, schema }).close();
  const positive = (value: number | undefined, name: string, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
    return value;
  };
  return {
    id: options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    config: { ...base, application_name: options.applicationName ?? base.application_name ?? 'pgnotifier-relay' },
    prefix: validateSubjectPrefix(options.subjectPrefix ?? 'pgnotifier'),
    stream: validateStreamName(options.stream ?? 'PGNOTIFIER'),
    channels,
    durableChannels,
    limits: validateStreamLimits(options.streamLimits),
    outbox,
    schema,
    timing: {
      checkIntervalMs: positive(options.lock?.checkIntervalMs, 'lock.checkIntervalMs', 1_000),
      checkTimeoutMs: positive(options.lock?.checkTimeoutMs, 'lock.checkTimeoutMs', 2_000),
    },
    pollMs: positive(options.followerPollMs, 'followerPollMs', 500),
  };
}

/** The relay's machinery: the election loop, a term as leader, the durable publishers. */
class RelayRunner implements Relay {
  readonly id: string;
  readonly #settings: Settings;
  readonly #nc: NatsConnection;
  readonly #ownsNats: boolean;
  readonly #state: BehaviorSubject<RelayState> = new BehaviorSubject<RelayState>({ role: 'starting' });
  readonly #wiring = new Subscription();
  readonly #subjects = new Map<string, string>();
  readonly state$: Observable<RelayState> = this.#state.asObservable();
  #natsUp = true;
  #closed = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stepDown: ((reason: Error) => void) | undefined;
  #leader: { relay: string; since: string } | undefined;
  #terms = 0;
  #plain = { received: 0, published: 0 };
  #durable = { taken: 0, published: 0, duplicates: 0, lag: 0 };
  #lastError: string | undefined;

  constructor(settings: Settings, nc: NatsConnection, ownsNats: boolean) {
    this.id = settings.id;
    this.#settings = settings;
    this.#nc = nc;
    this.#ownsNats = ownsNats;
    for (const channel of settings.channels) this.#subjects.set(channel, plainSubject(settings.prefix, channel));
  }

  status(): RelayStatus {
    return {
      id: this.id,
      role: this.#state.getValue().role,
      leader: this.#leader === undefined ? undefined : { ...this.#leader },
      terms: this.#terms,
      plain: { ...this.#plain },
      durable: { ...this.#durable },
      lastError: this.#lastError,
    };
  }

  start(): void {
    this.#watchNats();
    const announcements = this.#nc.subscribe(relaySubject(this.#settings.prefix), {
      callback: (error, msg) => {
        if (error !== null) return;
        try {
          const { relay: leader, since } = msg.json<RelayAnnouncement>();
          this.#leader = { relay: leader, since };
        } catch {
          // not ours
        }
      },
    });
    this.#wiring.add(() => {
      announcements.unsubscribe();
    });
    this.#loop = this.#elect();
  }

  /** Creates the stream for the durable channels where it is absent. */
  async startDurable(): Promise<void> {
    const { durableChannels, stream, prefix, limits } = this.#settings;
    if (durableChannels.length > 0) await ensureStream(this.#nc, stream, prefix, limits);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stepDown?.(new Error('closing'));
    this.#wake?.();
    this.#wiring.unsubscribe();
    await this.#loop;
    // A connection we were given is closed by its owner, maybe as soon as this resolves.
    await (this.#ownsNats ? closeNats(this.#nc) : settleWrites());
    this.#setRole('closed');
    this.#state.complete();
  }

  // ─── Election ───────────────────────────────────────────────────────────────────────────────

  async #elect(): Promise<void> {
    const { config, timing, prefix, pollMs } = this.#settings;
    let failures = 0;
    while (!this.#closed) {
      const client = lockClient(config, timing);
      // Set by the error handler while the loop below awaits.
      const session: { lost?: Error } = {};
      client.on('error', (error) => {
        session.lost ??= error;
        this.#stepDown?.(new ConnectionError('Lost the lock connection', { cause: error, explain: true }));
        this.#wake?.();
      });
      try {
        await client.connect();
        failures = 0;
        while (!this.#isClosed() && session.lost === undefined) {
          if (this.#natsUp) {
            const { rows } = await client.query<{ locked: boolean }>(LOCK_QUERY, [prefix]);
            if (rows[0]?.locked === true) {
              await this.#lead(client);
              break;
            }
          }
          // Only now, when it has to wait: a relay that leads at its first try never stood by.
          this.#setRole('follower');
          await this.#sleep(pollMs);
        }
      } catch (error) {
        session.lost ??= error instanceof Error ? error : new Error(messageOf(error));
      } finally {
        // Ending the session releases the lock, should we hold it.
        await endClient(client);
      }
      if (this.#isClosed()) break;
      const { lost } = session;
      if (lost !== undefined) {
        failures++;
        this.#lastError = messageOf(lost);
        this.#state.next({ role: 'starting', error: lost });
        await this.#sleep(backoffDelay(failures, defaultReconnectOptions));
      }
    }
  }

  /** One term as leader; returns when it ends (a lost connection, NATS down, or close). */
  async #lead(client: pg.Client): Promise<void> {
    const { config, channels, durableChannels, timing, schema } = this.#settings;
    let reason: Error | undefined;
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const stepDown = (why: Error): void => {
      reason ??= why;
      end();
    };
    this.#stepDown = stepDown;
    if (this.#closed || !this.#natsUp) stepDown(new Error('closing'));
    this.#terms++;
    const since = new Date().toISOString();
    // With durable channels, the notifier's durable part reads the outbox, woken on its own
    // listening connection (no second listening session).
    const notifier = new Notifier(config, {
      parse: 'raw',
      heartbeatIntervalMs: 2_000,
      heartbeatTimeoutMs: 2_000,
      ...(durableChannels.length > 0 ? { durable: { ...this.#settings.outbox, schema } } : {}),
    });
    const wiring = new Subscription();
    wiring.add(
      notifier.errors$.subscribe((error) => {
        this.#lastError = error.message;
      }),
    );
    wiring.add(
      notifier.state$.subscribe((state) => {
        if (state.status === 'reconnecting')
          stepDown(new ConnectionError('Lost the listening connection', { cause: state.error, explain: true }));
      }),
    );
    for (const channel of channels) {
      wiring.add(
        notifier.channel$<string>(channel).subscribe((notification) => {
          this.#publishPlain(notification);
        }),
      );
    }
    const timers: NodeJS.Timeout[] = [];
    await Promise.race([notifier.start(), ended]);
    const term: Term = { over: false, aborts: new Set() };
    if (reason === undefined && durableChannels.length > 0) {
      // Before leading is announced: a leader carries its durable channels (the outbox installed).
      const starting = this.#startOutbox(client, notifier, term).then(
        () => undefined,
        (error: unknown) => {
          stepDown(new ConnectionError('Cannot start reading the durable outbox', { cause: error, explain: true }));
        },
      );
      await Promise.race([starting, ended]);
    }
    if (reason === undefined) {
      // Everything is LISTENed: from here on nothing is missed, so consumers may re-read now.
      this.#leader = { relay: this.id, since };
      this.#setRole('leader');
      this.#announce(since, true);
      timers.push(
        setInterval(() => {
          this.#announce(since, false);
        }, ANNOUNCE_INTERVAL_MS),
      );
      let checking = false;
      timers.push(
        setInterval(() => {
          if (checking) return;
          checking = true;
          client.query('SELECT 1').then(
            () => (checking = false),
            (error: unknown) => {
              stepDown(new ConnectionError('The lock connection stopped answering', { cause: error, explain: true }));
            },
          );
        }, timing.checkIntervalMs),
      );
    }
    await ended;
    term.over = true;
    for (const abort of term.aborts) abort();
    // A publish cut short by the end of the term never settles (see #publishDurable), so no
    // position moves past it.
    this.#durable.lag = 0;
    for (const timer of timers) clearInterval(timer);
    this.#stepDown = undefined;
    // close() first: unsubscribing first would UNLISTEN each channel on the way out.
    await notifier.close().catch(() => undefined);
    wiring.unsubscribe();
    if (this.#leader?.relay === this.id) this.#leader = undefined;
    if (!this.#closed) {
      this.#lastError = reason === undefined ? undefined : messageOf(reason);
      this.#state.next({ role: 'follower', ...(reason === undefined ? {} : { error: reason }) });
    }
  }

  /**
   * Starts the leader's outbox readers: a durable subscriber per channel, under an id that every
   * relay of this prefix shares, so the next leader resumes where this one stopped.
   */
  async #startOutbox(client: pg.Client, notifier: Notifier, term: Term): Promise<void> {
    const { prefix, schema, durableChannels } = this.#settings;
    const { rows } = await client.query<{ system: string; database: string }>(MESSAGE_ID_QUERY);
    const row = rows[0];
    if (row === undefined) throw new Error('cannot read the system identifier and database oid');
    const idPrefix = `${row.system}:${row.database}:${schema}`;
    try {
      await notifier.install();
    } catch (error) {
      // E.g. no right to create it: the tables may exist all the same (readers report otherwise).
      this.#lastError = `Installing the outbox schema ${JSON.stringify(schema)} failed: ${messageOf(error)}`;
    }
    const consumer = `pgnotifier-relay ${prefix}`;
    await Promise.all(
      durableChannels.map((channel) => {
        const subject = durableSubject(prefix, channel);
        return notifier.subscribe(
          consumer,
          channel,
          (_id, name, payload, pid, message) =>
            this.#publishDurable(
              subject,
              idPrefix,
              { channel: name, payload: payload as string, pid, id: message.id, cursor: message.cursor },
              term,
            ),
          { durable: true },
        );
      }),
    );
  }

  #announce(since: string, takeover: boolean): void {
    const announcement: RelayAnnouncement = { relay: this.id, since, takeover };
    try {
      this.#nc.publish(relaySubject(this.#settings.prefix), JSON.stringify(announcement));
    } catch (error) {
      this.#lastError = messageOf(error);
    }
  }

  #publishPlain(notification: Notification<string>): void {
    this.#plain.received++;
    const subject = this.#subjects.get(notification.channel);
    if (subject === undefined) return;
    const h = headers();
    h.set(HEADER.channel, encodeURIComponent(notification.channel));
    h.set(HEADER.pid, String(notification.pid));
    try {
      this.#nc.publish(subject, notification.payload, { headers: h });
      this.#plain.published++;
    } catch (error) {
      this.#lastError = messageOf(error);
    }
  }

  /**
   * Publishes one outbox message to JetStream. The outbox moves past a message once this settles,
   * so it settles only when JetStream has it: failures are retried until the term ends, and then
   * it never settles (the outbox is closed first, so its position stays before the message, and
   * the next leader publishes it again).
   */
  async #publishDurable(subject: string, idPrefix: string, message: DurableMessage, term: Term): Promise<void> {
    this.#durable.taken++;
    this.#durable.lag++;
    const h = headers();
    h.set(HEADER.channel, encodeURIComponent(message.channel));
    h.set(HEADER.pid, String(message.pid));
    h.set(HEADER.id, message.id);
    if (term.over) return never();
    // One abort per message in flight, dropped when it settles: a race against one promise for
    // the whole term would keep a reaction per message until the term ends.
    let abort!: () => void;
    const termEnded = new Promise<typeof TERM_ENDED>((resolve) => {
      abort = () => {
        resolve(TERM_ENDED);
      };
    });
    term.aborts.add(abort);
    try {
      await this.#publishUntilAcked(subject, idPrefix, message, h, termEnded);
    } finally {
      term.aborts.delete(abort);
    }
  }

  async #publishUntilAcked(
    subject: string,
    idPrefix: string,
    message: DurableMessage,
    h: MsgHdrs,
    termEnded: Promise<typeof TERM_ENDED>,
  ): Promise<void> {
    const js = jetstream(this.#nc);
    for (let attempt = 1; ; attempt++) {
      let ack: PubAck | typeof TERM_ENDED;
      try {
        ack = await Promise.race([js.publish(subject, message.payload, { msgID: `${idPrefix}:${message.id}`, headers: h }), termEnded]);
      } catch (error) {
        this.#lastError = messageOf(error);
        const delay = new Promise<void>((resolve) => setTimeout(resolve, backoffDelay(attempt, defaultReconnectOptions)).unref());
        if ((await Promise.race([delay, termEnded])) === TERM_ENDED) return never();
        continue;
      }
      if (ack === TERM_ENDED) return never();
      if (ack.duplicate) this.#durable.duplicates++;
      else this.#durable.published++;
      this.#durable.lag--;
      return;
    }
  }

  #watchNats(): void {
    void (async () => {
      for await (const status of this.#nc.status()) {
        if (this.#closed) return;
        if (status.type === 'disconnect') {
          this.#natsUp = false;
          this.#stepDown?.(new ConnectionError(`Lost the NATS connection to ${status.server}`));
        } else if (status.type === 'reconnect') {
          this.#natsUp = true;
        }
      }
    })().catch(() => undefined);
  }

  // A method, not the field: the compiler would narrow the field across awaits.
  #isClosed(): boolean {
    return this.#closed;
  }

  #setRole(role: RelayRole): void {
    if (this.#state.getValue().role !== role && !this.#state.closed) this.#state.next({ role });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** `<system identifier>:<database oid>` of the lock session: with the schema and message id, unique across databases. */
const MESSAGE_ID_QUERY =
  'SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system, oid::text AS database FROM pg_database WHERE datname = current_database()';

/** What a durable publish cut short by the end of a term resolves its race with. */
const TERM_ENDED: unique symbol = Symbol('term ended');

/** One term as leader, as its durable publishes see it: ended, and how to cut short those in flight. */
interface Term {
  over: boolean;
  readonly aborts: Set<() => void>;
}

/** A promise that never settles: garbage once nothing refers to it. */
function never(): Promise<never> {
  return new Promise<never>(() => undefined);
}

async function endClient(client: pg.Client): Promise<void> {
  // end() waits for the server, which may be gone: give it a moment, then drop the socket.
  await Promise.race([client.end().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
