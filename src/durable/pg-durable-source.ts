import type { ClientConfig } from 'pg';
import { Observable, Subject, type Subscription } from 'rxjs';

import { validateChannel, validateUserChannel } from '../channel-name.js';
import { ConnectionError } from '../errors/connection-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { NotifierClosedError } from '../errors/notifier-closed-error.js';
import type { NotifierError } from '../errors/notifier-error.js';
import { BoundedPool, END_GRACE_MS } from '../source/bounded-pool.js';
import { ReplayGapError } from '../errors/replay-gap-error.js';
import { SubscriberError } from '../errors/subscriber-error.js';
import { checkConnectionConfig } from '../source/check-connection-config.js';
import type { DurableMessage, DurableSource, DurableStart } from '../source/durable-source.js';
import { decodeCursor, encodeCursor, type DurablePosition } from './durable-position.js';
import { InFlight } from './in-flight.js';
import { DEFAULT_DURABLE_SCHEMA, durableSchemaSql, durableWakeChannel, lockKeys, quotedSchema, ROW_IDS } from './durable-schema-sql.js';
import { checkPayloadTexts, publishManyJoinedQuery } from './publish-many-query.js';
import { missingSchemaError } from './missing-schema-error.js';
import { publishTextQuery } from './publish-query.js';
import { describeValue } from './describe-value.js';

/** Options of {@link PgDurableSource}. */
export interface PgDurableSourceOptions {
  /**
   * The schema of the durable tables.
   * @defaultValue 'pgnotifier'
   */
  readonly schema?: string;
  /**
   * How long messages are kept, in milliseconds; older ones are pruned by the sources themselves.
   * @defaultValue 604800000 (7 days)
   */
  readonly retentionMs?: number;
  /**
   * How often every reader checks for new messages without a wake-up, in milliseconds (the
   * backstop for wake-ups lost with a connection).
   * @defaultValue 1000
   */
  readonly pollIntervalMs?: number;
  /**
   * How often this source tries to prune, in milliseconds; across processes at most one pruning
   * runs at a time and not more often than this.
   * @defaultValue retentionMs / 10, between 1 s and 60 s
   */
  readonly pruneIntervalMs?: number;
  /**
   * Wake-ups: each value makes the readers check at once. A value with a string `payload` (a raw
   * notification of {@link durableWakeChannel}) wakes the readers of that channel; anything else
   * (e.g. the notifier's `resync$` after a reconnect) wakes every reader.
   */
  readonly wake$?: Observable<unknown>;
  /**
   * How many messages a reader fetches per query; a catch-up never holds more than one page.
   * @defaultValue 500
   */
  readonly pageSize?: number;
  /**
   * Payloads up to this many bytes come with their page; larger ones are fetched one at a time,
   * so a page of large payloads never sits in memory at once. Payloads published in a batch and
   * packed into shared rows (at most `PACKED_BYTES`, 8000 bytes, each) always come with their page.
   * @defaultValue 65536
   */
  readonly inlinePayloadBytes?: number;
  /**
   * Connections of the source's own pool (never the listening connection).
   * @defaultValue 4
   */
  readonly poolSize?: number;
  /**
   * How long opening a connection may take, in milliseconds (a server that accepts and never
   * answers fails the attempt after it; the next wake-up or poll tries again).
   * @defaultValue 10000
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long one query may take, in milliseconds: a query without an answer by then (a half-open
   * connection, a hung server, a lock held by another session) fails with a `ConnectionError`
   * (on `errors$` for a reader, which retries from the same position on the next wake-up or
   * poll; the rejection of the call otherwise), and its connection is dropped. Pruning gets ten
   * times as long. It bounds whole queries, a payload's transfer included: raise it for payloads
   * of hundreds of megabytes over a slow network (100 MB takes ~6 s on a local server).
   * @defaultValue 30000
   */
  readonly queryTimeoutMs?: number;
}

/** Where a consumer stands, and how far behind the newest message it is. */
export interface DurableLag {
  /** The cursor of its position (right after the last message it handled). */
  readonly cursor: string;
  /** How many committed messages of the channel it has not handled yet. */
  readonly behind: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A query run on every wake-up or message, as a named prepared statement: each pooled session
 * plans it once (measured: planning took 0.35-0.4 ms of a 0.55 ms batch opening on a warm
 * session). Each source's pool serves one schema, so one text per name. Like LISTEN, it needs a
 * session (or a pooler that keeps prepared statements, as PgBouncer 1.21+ with
 * `max_prepared_statements`).
 */
function prepared(name: 'open' | 'page' | 'store', text: string): { name: string; text: string } {
  return { name: `pgnotifier_${name}`, text };
}

/**
 * A page of a batch: up to `limit` messages of channel `$1` after `lastId` in rows `lo`..`hi`
 * whose transaction `upto` sees and `since` does not, in id order, as (id, pid, payload). Rows are
 * taken in id order first (an index range scan), only as many as the page needs (a running count
 * of their unread messages), and only those are unpacked: a packed row is read whole, a page never
 * unpacks the batch. A single payload comes with the page up to `inlineBytes` (its size is known
 * without reading it, and `NULL` says to fetch it alone); packed ones, at most 8000 bytes each
 * (`PACKED_BYTES`), always do. A row holds ids from its own to less than {@link ROW_IDS} above it,
 * so the row of `lastId` starts within that distance below it; rows read to their end are left out
 * (every row taken has a message for the page).
 *
 * For example, rows 1001 (n = 3: ids 1001-1003), 2001 (single) and 3001 (n = 500), `lastId`
 * 1002 and `limit` 2: the scan takes rows with ids above 2 whose last id is above 1002, so all
 * three (row 1 would be left out); their unread counts are 1 (1003), 1 and 500, so `before` is 0,
 * 1 and 2, and only rows 1001 and 2001 (before < 2) are unpacked, giving 1003 and 2001.
 *
 * Why the running count rather than `ORDER BY r.id, x.k LIMIT` over the rows (about 10 % faster
 * on single rows): the planner runs that lazily with an incremental sort only in a custom plan;
 * the generic plan a prepared statement switches to sorted everything, unpacking every row of the
 * batch for each page (118 ms a page for a batch of 200,000 small messages, measured).
 *
 * The messages of a row come from a LATERAL subquery rather than `unnest(coalesce(packed_payloads,
 * ARRAY[single_payload]))`, which would copy every large payload into an array (reading it) only to
 * check its size.
 */
function pageSql(
  s: string,
  p: { lastId: string; lo: string; hi: string; since: string; upto: string; inlineBytes: string; limit: string },
): string {
  return `
         SELECT x.id, r.pid, CASE WHEN r.packed_payloads IS NOT NULL OR octet_length(r.single_payload) <= ${p.inlineBytes} THEN x.payload END AS payload
           FROM (SELECT w.* FROM (
                  SELECT m.id, m.pid, m.single_payload, m.packed_payloads, sum(${unreadInRow(p.lastId)}) OVER (ORDER BY m.id ROWS UNBOUNDED PRECEDING) - ${unreadInRow(p.lastId)} AS before
                    FROM (SELECT m.id, m.pid, m.single_payload, m.packed_payloads, m.n FROM ${s}.messages AS m
                           WHERE m.channel = $1 AND m.id > greatest(${p.lastId} - ${ROW_IDS}, ${p.lo} - 1) AND m.id <= ${p.hi}
                             AND m.id + m.n - 1 > ${p.lastId}
                             AND pg_visible_in_snapshot(m.xid, ${p.upto}) AND NOT pg_visible_in_snapshot(m.xid, ${p.since})
                           ORDER BY m.id LIMIT ${p.limit}) AS m
                ) AS w WHERE w.before < ${p.limit}) AS r
          CROSS JOIN LATERAL (SELECT r.id, r.single_payload AS payload WHERE r.packed_payloads IS NULL
                   UNION ALL SELECT r.id + u.k - 1, coalesce(u.p, '') FROM unnest(r.packed_payloads) WITH ORDINALITY AS u (p, k)) AS x
          WHERE x.id > ${p.lastId}
          ORDER BY x.id
          LIMIT ${p.limit}`;
}

/**
 * How many of row `m`'s messages lie after a position: those past `lastId` when `upto` sees the
 * row, else all of them; without `upto`, those past `lastId` (a batch sees every row it reads).
 * The row's ids are `m.id` to `m.id + m.n - 1`, of which `lastId - m.id + 1` (clamped to 0..n) are
 * at or before `lastId`: row 1001 with n = 3 has 3 unread after 1000, 1 after 1002, 0 after 1003.
 */
function unreadInRow(lastId: string, upto?: string): string {
  const past = `(m.n - least(m.n, greatest(0, ${lastId} - m.id + 1)))`;
  return upto === undefined ? past : `CASE WHEN pg_visible_in_snapshot(m.xid, ${upto}) THEN ${past} ELSE m.n END`;
}

/** One reader or consumer: its position, and the loop that moves it. */
interface Reader {
  readonly channel: string;
  readonly consumer: string | undefined;
  /** Resolves the start position (a query), before the first batch. */
  readonly init: () => Promise<DurablePosition>;
  /** Hands one message on; resolves once it may move past it. */
  readonly deliver: (message: DurableMessage) => Promise<void> | void;
  readonly complete: () => void;
  position: DurablePosition | undefined;
  /** The id range of the current batch; `null`: the batch is empty; `undefined`: not opened yet. */
  bounds: { readonly lo: string; readonly hi: string } | null | undefined;
  /** The last page of the batch was full: there may be more. */
  more: boolean;
  stopped: boolean;
  kicked: boolean;
  wakeUp: (() => void) | undefined;
  /** How far retention had deleted when this reader last reported a gap: each advance once. */
  gapThrough: bigint | undefined;
}

interface OpenedRow {
  since: string;
  upto: string;
  /** `prune_state.through` when retention deleted xids the reader's `since` had not seen, else `null`. */
  gap: string | null;
  lo: string | null;
  hi: string | null;
}

interface PageRow {
  /** `null` only in the row of an opened batch without messages. */
  id: string | null;
  pid: number;
  payload: string | null;
}

/**
 * The PostgreSQL {@link DurableSource}: an outbox table read PgQ-style by transaction snapshots,
 * with NOTIFY only as a wake-up (PostgreSQL 13 or later).
 *
 * A position is a pair of snapshots and the last id delivered in the batch between them; the next
 * batch is the rows whose transaction is visible in a new snapshot and was not in the old one, in
 * id order, read in pages. So a transaction that published and is still open neither hides
 * messages committed after it nor is skipped when it commits, and an unrelated long transaction
 * holds nothing back (unlike `WHERE id > last_id`, which skips, or waiting for the oldest xmin).
 *
 * Readers wake on {@link PgDurableSourceOptions.wake$}, poll every `pollIntervalMs`, and keep
 * going across lost connections: a failed query is reported on `errors$` as a `ConnectionError`
 * and retried on the next wake-up or poll from the same position.
 *
 * Consumers: the position is stored under (consumer, channel) after each message's handler
 * settles. A handler that throws or rejects is reported on `errors$` as a `SubscriberError` and
 * its message counts as handled (so one poison message never blocks the consumer forever);
 * handle failures yourself (retry, dead-letter) inside the handler when that matters.
 */
export class PgDurableSource implements DurableSource {
  readonly #schema: string;
  readonly #s: string;
  readonly #retentionMs: number;
  readonly #pollIntervalMs: number;
  readonly #pruneIntervalMs: number;
  readonly #pageSize: number;
  readonly #inlineBytes: number;
  readonly #wake$: Observable<unknown> | undefined;
  readonly #pool: BoundedPool;
  readonly #positions: BoundedPool;
  readonly #queryTimeoutMs: number;
  readonly #errors = new Subject<NotifierError>();
  readonly #readers = new Set<Reader>();
  /** Per (consumer, channel): the message being handled and its position store. */
  readonly #handling = new Map<string, Promise<void>>();
  /** Per (consumer, channel): the starts under way (each may store a position), which `forget` waits for. */
  readonly #starting = new Map<string, InFlight>();
  /**
   * Per (consumer, channel): how many times it was forgotten. A handler that began before a
   * `forget` does not store its position (it would bring the forgotten one back); one that began
   * after it, in a new subscription of the pair, does.
   */
  readonly #forgets = new Map<string, number>();
  /** Per (consumer, channel): the position store under way, which `forget` waits for (it is bounded). */
  readonly #storing = new Map<string, Promise<unknown>>();
  /** Every message being handled, which `close()` waits for (within a grace). */
  readonly #inHandlers = new Set<Promise<void>>();
  #wakeSubscription: Subscription | undefined;
  #poller: ReturnType<typeof setInterval> | undefined;
  #lastPruneTry = 0;
  #pruning: Promise<unknown> | undefined;
  #closed = false;
  /** A missing schema was reported; not again (every reader meets it at every poll) until it is found. */
  #missingReported = false;

  /** Problems met while reading, consuming, publishing or pruning; none of them stops a reader. */
  readonly errors$: Observable<NotifierError> = this.#errors.asObservable();

  /**
   * @param config - a connection string or a pg `ClientConfig`; the source opens a small pool of
   * its own on it, with `application_name` `'pgnotifier durable'`.
   * @param options - see {@link PgDurableSourceOptions}.
   * @throws {@link InvalidArgumentError} for an invalid option, or a connection config that can
   * never work (a bad port, a NUL character, a timeout the server refuses).
   */
  constructor(config: string | ClientConfig = {}, options: PgDurableSourceOptions = {}) {
    this.#schema = options.schema ?? DEFAULT_DURABLE_SCHEMA;
    this.#s = quotedSchema(this.#schema);
    this.#retentionMs = positive('retentionMs', options.retentionMs, 7 * DAY_MS);
    this.#pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs, 1000);
    this.#pruneIntervalMs = positive('pruneIntervalMs', options.pruneIntervalMs, Math.min(60_000, Math.max(1000, this.#retentionMs / 10)));
    this.#pageSize = positive('pageSize', options.pageSize, 500);
    this.#inlineBytes = positive('inlinePayloadBytes', options.inlinePayloadBytes, 65_536);
    this.#wake$ = options.wake$;
    const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 10_000);
    this.#queryTimeoutMs = positive('queryTimeoutMs', options.queryTimeoutMs, 30_000);
    const base: ClientConfig = typeof config === 'string' ? { connectionString: config } : config;
    // A pool connects only when first used: a config that can never work is refused here instead.
    checkConnectionConfig(base);
    const bounds = { connectTimeoutMs, queryTimeoutMs: this.#queryTimeoutMs };
    this.#pool = new BoundedPool(
      {
        ...base,
        application_name: 'pgnotifier durable',
        // A page must be an ordered range scan of (channel, id) that stops after pageSize rows. Before
        // the table is analysed, the planner believes a batch holds a handful of rows and picks a
        // bitmap scan plus sort, which reads the whole rest of the batch for every page (measured:
        // 5 s a page in a 1,000,000-message catch-up, against 1 ms). These sessions only run our queries.
        // JIT off: the planner's row estimates for these small queries cross jit_above_cost, and
        // compiling took 50 ms of a 1 ms query (measured).
        options: `${base.options ?? ''} -c enable_bitmapscan=off -c jit=off`.trim(),
      },
      { ...bounds, method: 'read', max: positive('poolSize', options.poolSize, 4) },
    );
    // Consumers store a position after every message: without waiting for the WAL flush, which
    // costs a disk sync each. A process crash loses nothing (the commit is made); a server crash
    // may lose the last ~200 ms of position moves, which only repeats messages (at least once).
    this.#positions = new BoundedPool(
      { ...base, application_name: 'pgnotifier durable', options: `${base.options ?? ''} -c synchronous_commit=off`.trim() },
      { ...bounds, method: 'consume', max: 2 },
    );
    for (const pool of [this.#pool, this.#positions]) {
      // An idle pooled client losing its connection emits here; without a listener Node would throw.
      pool.onIdleError((error) => {
        this.#report(new ConnectionError('A connection of the durable pool failed', { cause: error, explain: true }));
      });
    }
  }

  /** The channel this source's wake-ups arrive on (give its notifications to `wake$`). */
  get wakeChannel(): string {
    return durableWakeChannel(this.#schema);
  }

  /** Creates the schema, tables and functions where missing; safe to run from many processes at once. */
  async install(): Promise<void> {
    this.#assertOpen('install');
    await this.#pool.query(durableSchemaSql(this.#schema), undefined, 'install');
    this.#missingReported = false;
  }

  /**
   * Stores a message and announces it; resolves with its id (a decimal string). The payload text
   * is stored as it is (any size).
   *
   * @throws {@link InvalidChannelError} for an invalid channel name (or one starting with the
   * reserved `pgnotifier:`), {@link InvalidArgumentError} when the payload is not a string; the
   * promise rejects with {@link DurableUnavailableError} when the durable schema is missing.
   */
  async publish(channel: string, payload: string): Promise<string> {
    this.#assertOpen('publish');
    validateUserChannel(channel);
    if (typeof payload !== 'string') throw new InvalidArgumentError(`A durable payload must be a string, got ${typeof payload}`);
    this.#startPolling();
    const { rows } = await this.#pool
      .query<{ id: string }>(publishTextQuery(this.#schema, channel, payload), undefined, 'publish')
      .catch((error: unknown) => this.#rethrow(error, 'publish'));
    this.#missingReported = false;
    return (rows[0] as { id: string }).id;
  }

  /**
   * Stores many messages on one channel and announces them, in one statement: one INSERT and one
   * wake-up, committed together (all or none). Resolves with their ids (decimal strings) in the
   * order of `payloads`; an empty array publishes nothing and resolves with `[]` without a query.
   * Each payload text is stored as it is (any size).
   *
   * @example
   * ```ts
   * import { PgDurableSource } from 'pgnotifier';
   *
   * const source = new PgDurableSource(process.env.DATABASE_URL, { schema: 'pgnotifier' });
   * const ids = await source.publishMany('orders', [JSON.stringify({ id: 42 }), JSON.stringify({ id: 43 })]);
   * ```
   *
   * @throws {@link InvalidChannelError} for an invalid channel name, {@link InvalidArgumentError}
   * when `payloads` is not an array of strings.
   */
  async publishMany(channel: string, payloads: readonly string[]): Promise<string[]> {
    this.#assertOpen('publishMany');
    validateUserChannel(channel);
    const texts = checkPayloadTexts(payloads);
    if (texts.length === 0) return [];
    this.#startPolling();
    const { rows } = await this.#pool.query<{ ids: string }>(publishManyJoinedQuery(this.#schema, channel, texts));
    return (rows[0] as { ids: string }).ids.split(',');
  }

  /**
   * Checks a cursor given to resume `channel` (a `since` option) before anything is read.
   *
   * @throws {@link InvalidArgumentError} when it is not a cursor of this source (in form or in
   * meaning), or one of another channel.
   */
  checkCursor(cursor: string, channel: string): void {
    decodeCursor(cursor, channel);
  }

  /** A cursor standing for now: `read(channel, { after })` with it delivers only what commits later. */
  async now(): Promise<string> {
    this.#assertOpen('now');
    const { rows } = await this.#pool.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s', undefined, 'now');
    const s = (rows[0] as { s: string }).s;
    return encodeCursor({ since: s, upto: s, lastId: '0' });
  }

  /**
   * The messages of `channel` from `start` on, in order, each once (see {@link DurableSource.read}).
   * `'now'` starts at the snapshot the first query takes; use {@link PgDurableSource.now} for a
   * start you can wait for.
   *
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError} (a bad start or cursor, or a
   * cursor of another channel).
   */
  read(channel: string, start: DurableStart): Observable<DurableMessage> {
    validateChannel(channel);
    const init = this.#startPosition(channel, start);
    return new Observable<DurableMessage>((subscriber) => {
      if (this.#closed) {
        subscriber.error(new NotifierClosedError('read'));
        return;
      }
      const reader = this.#reader(
        channel,
        undefined,
        init,
        (message) => {
          subscriber.next(message);
        },
        () => {
          subscriber.complete();
        },
      );
      return () => {
        this.#stop(reader);
      };
    });
  }

  /**
   * A consumer whose position is stored under (`consumer`, `channel`) (see
   * {@link DurableSource.consume}). Without a stored position it starts at the moment it
   * subscribes, and stores that position at once, so a restart resumes from there. Positions only
   * move forward: two processes sharing a consumer never move it back.
   *
   * @throws {@link InvalidChannelError}, {@link InvalidArgumentError} (a consumer that is not a
   * non-empty string, a handler that is not a function).
   */
  consume(consumer: string, channel: string, handle: (message: DurableMessage) => Promise<void>): Observable<DurableMessage> {
    validateConsumer(consumer);
    validateChannel(channel);
    if (typeof handle !== 'function') throw new InvalidArgumentError('The durable handler must be a function');
    // The reader of this Observable's previous subscription: a resubscription (after a mute)
    // resumes where it stood, not at the stored position, which another process sharing the
    // consumer may have moved past messages this one has not had.
    let previous: Reader | undefined;
    return new Observable<DurableMessage>((subscriber) => {
      if (this.#closed) {
        subscriber.error(new NotifierClosedError('consume'));
        return;
      }
      const before = previous;
      const reader = this.#reader(
        channel,
        consumer,
        async () => {
          // A paused subscription of the same consumer may still be storing its last message's
          // position: resuming before that store lands would deliver the message again.
          await this.#handling.get(handlingKey(consumer, channel));
          return before?.position ?? this.#startingFor(consumer, channel, this.#storedPosition(consumer, channel));
        },
        async (message) => {
          const forgets = this.#forgets.get(handlingKey(consumer, channel));
          const handling = (async () => {
            try {
              await handle(message);
            } catch (error) {
              this.#report(new SubscriberError(consumer, channel, { cause: error }));
            }
            const position = decodeCursor(message.cursor);
            reader.position = position;
            try {
              await this.#store(consumer, channel, position, forgets);
            } catch (error) {
              // The next message's store carries this one too; a crash before it repeats the message.
              this.#report(
                new ConnectionError(`Storing the position of consumer ${JSON.stringify(consumer)} failed`, { cause: error, explain: true }),
              );
            }
          })();
          const key = handlingKey(consumer, channel);
          this.#handling.set(key, handling);
          this.#inHandlers.add(handling);
          try {
            await handling;
          } finally {
            if (this.#handling.get(key) === handling) this.#handling.delete(key);
            this.#inHandlers.delete(handling);
          }
          if (!subscriber.closed) subscriber.next(message);
        },
        () => {
          subscriber.complete();
        },
      );
      previous = reader;
      return () => {
        this.#stop(reader);
      };
    });
  }

  /**
   * Deletes the stored position of (`consumer`, `channel`); its next subscription starts at now.
   * It does not wait for a message of the pair still being handled: that handler's position is
   * not stored when it settles (a new subscription of the pair stores its own as usual).
   */
  async forget(consumer: string, channel: string): Promise<void> {
    this.#assertOpen('forget');
    validateConsumer(consumer);
    validateChannel(channel);
    // A message still being handled here would store its position when done and bring the
    // forgotten one back: it no longer stores (and a new subscription of the pair need not wait
    // for it). Its handler may never settle, so only a store already sent is waited for.
    const key = handlingKey(consumer, channel);
    this.#forgets.set(key, (this.#forgets.get(key) ?? 0) + 1);
    this.#handling.delete(key);
    await this.#storing.get(key)?.catch(() => undefined);
    // A start under way would store the position too (when there is none): wait for it.
    await this.#starting.get(key)?.settled();
    await this.#pool
      .query(`DELETE FROM ${this.#s}.positions WHERE consumer = $1 AND channel = $2`, [consumer, channel], 'forget')
      .catch((error: unknown) => this.#rethrow(error, 'forget'));
  }

  /** Tracks `start` as a start of (`consumer`, `channel`) until it settles. */
  #startingFor<T>(consumer: string, channel: string, start: Promise<T>): Promise<T> {
    const key = handlingKey(consumer, channel);
    const starts = this.#starting.get(key) ?? new InFlight();
    this.#starting.set(key, starts);
    const drop = () => {
      if (starts.size === 0 && this.#starting.get(key) === starts) this.#starting.delete(key);
    };
    starts.track(start).then(drop, drop);
    return start;
  }

  /**
   * The stored position of (`consumer`, `channel`) as a cursor; without one, stores now first (as
   * a consumer's first subscription does), so messages committed after this resolves reach it.
   */
  async position(consumer: string, channel: string): Promise<string> {
    this.#assertOpen('position');
    validateConsumer(consumer);
    validateChannel(channel);
    const position = await this.#startingFor(consumer, channel, this.#storedPosition(consumer, channel)).catch((error: unknown) =>
      this.#rethrow(error, 'position'),
    );
    return encodeCursor(position, channel);
  }

  /** The stored position of (`consumer`, `channel`) and how many messages it is behind; `undefined` when none is stored. */
  async lag(consumer: string, channel: string): Promise<DurableLag | undefined> {
    this.#assertOpen('lag');
    validateConsumer(consumer);
    validateChannel(channel);
    const { rows } = await this.#pool
      .query<{ since: string; upto: string; last_id: string }>(
        `SELECT since::text, upto::text, last_id::text FROM ${this.#s}.positions WHERE consumer = $1 AND channel = $2`,
        [consumer, channel],
        'lag',
      )
      .catch((error: unknown) => this.#rethrow(error, 'lag'));
    const row = rows[0];
    if (row === undefined) return undefined;
    const cursor = encodeCursor({ since: row.since, upto: row.upto, lastId: row.last_id }, channel);
    return { cursor, behind: await this.behind(channel, cursor) };
  }

  /** How many committed messages of `channel` lie after `cursor`. */
  async behind(channel: string, cursor: string): Promise<number> {
    this.#assertOpen('behind');
    validateChannel(channel);
    const p = decodeCursor(cursor, channel);
    const { rows } = await this.#pool
      .query<{ n: string }>(
        `SELECT coalesce(sum(${unreadInRow('$4::bigint', '$3::pg_snapshot')}), 0)::text AS n FROM ${this.#s}.messages m
        WHERE m.channel = $1 AND m.xid >= pg_snapshot_xmin($2::pg_snapshot) AND NOT pg_visible_in_snapshot(m.xid, $2::pg_snapshot)`,
        [channel, p.since, p.upto, p.lastId],
        'behind',
      )
      .catch((error: unknown) => this.#rethrow(error, 'behind'));
    return Number((rows[0] as { n: string }).n);
  }

  /**
   * Deletes the messages older than `retentionMs` now, unless another process is pruning (then it
   * resolves with 0 at once). Resolves with how many messages were deleted. The sources call it
   * themselves every `pruneIntervalMs`.
   */
  async prune(): Promise<number> {
    this.#assertOpen('prune');
    return this.#prune(false);
  }

  /**
   * Stops every reader (their Observables complete) and closes the pools, within a bounded time
   * whatever is in flight: handlers still running get a grace of 2 s to settle and store their
   * positions (so the next process does not get their messages again); after it, what is still
   * pending is rejected with {@link NotifierClosedError} and the sockets are destroyed. Calling it
   * again is harmless.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of [...this.#readers]) {
      this.#stop(reader);
      reader.complete();
    }
    this.#stopPolling();
    this.#errors.complete();
    const graceEnds = Date.now() + END_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, END_GRACE_MS);
    });
    await Promise.race([Promise.all([...this.#inHandlers, this.#pruning?.catch(() => undefined)]), grace]);
    clearTimeout(timer);
    const rest = Math.max(0, graceEnds - Date.now());
    await Promise.all([this.#pool.end(rest), this.#positions.end(rest)]);
  }

  // ─── reading ──────────────────────────────────────────────────────────────────────────────

  #startPosition(channel: string, start: DurableStart): () => Promise<DurablePosition> {
    if (start === 'now') {
      return async () => decodeCursor(await this.now());
    }
    if (start === 'earliest') {
      return async () => {
        // Every xid up to `through` is pruned away; every retained message is above it.
        const { rows } = await this.#pool.query<{ s: string }>(
          `SELECT format('%s:%s:', t, t) AS s FROM (SELECT greatest(${this.#s}.xid8_after(through), '3'::xid8) AS t FROM ${this.#s}.prune_state) AS p`,
        );
        const s = (rows[0] as { s: string }).s;
        return { since: s, upto: s, lastId: '0' };
      };
    }
    if (typeof start === 'object' && (start as unknown) !== null && 'after' in start) {
      const position = decodeCursor(start.after, channel);
      return () => Promise.resolve(position);
    }
    throw new InvalidArgumentError(`A durable start is 'now', 'earliest' or { after: cursor }, got ${describeValue(start)}`);
  }

  async #storedPosition(consumer: string, channel: string): Promise<DurablePosition> {
    await this.#pool.query(
      `INSERT INTO ${this.#s}.positions (consumer, channel, since, upto)
         SELECT $1, $2, s, s FROM pg_current_snapshot() AS s ON CONFLICT (consumer, channel) DO NOTHING`,
      [consumer, channel],
    );
    const { rows } = await this.#pool.query<{ since: string; upto: string; last_id: string }>(
      `SELECT since::text, upto::text, last_id::text FROM ${this.#s}.positions WHERE consumer = $1 AND channel = $2`,
      [consumer, channel],
    );
    const row = rows[0];
    if (row === undefined) return this.#storedPosition(consumer, channel); // forgotten in between
    return { since: row.since, upto: row.upto, lastId: row.last_id };
  }

  /**
   * Stores a consumer's position unless that would move it back. A position covers the messages
   * visible in its `since` snapshot, and those of its `upto` snapshot up to its last id. Two
   * processes sharing a consumer read in batches of their own, so their positions need not be
   * comparable: the new one is stored only when it covers everything the stored one does, that
   * is when its `since` is no older and it is past the stored `upto`, or within a batch no older
   * than the stored one, at a later id. A snapshot's age is (xmax, xmin, fewer in-progress xids).
   */
  async #store(consumer: string, channel: string, p: DurablePosition, forgets: number | undefined): Promise<void> {
    const key = handlingKey(consumer, channel);
    // Forgotten since the message was handed over: storing would bring the position back.
    if (this.#forgets.get(key) !== forgets) return;
    const storing = this.#storePosition(consumer, channel, p);
    this.#storing.set(key, storing);
    try {
      await storing;
    } finally {
      if (this.#storing.get(key) === storing) this.#storing.delete(key);
    }
  }

  async #storePosition(consumer: string, channel: string, p: DurablePosition): Promise<void> {
    const age = (snapshot: string) =>
      `(pg_snapshot_xmax(${snapshot}), pg_snapshot_xmin(${snapshot}), -(SELECT count(*) FROM pg_snapshot_xip(${snapshot})))`;
    await this.#positions.query(
      prepared(
        'store',
        `INSERT INTO ${this.#s}.positions AS p (consumer, channel, since, upto, last_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (consumer, channel) DO UPDATE SET since = excluded.since, upto = excluded.upto, last_id = excluded.last_id, updated_at = now()
       WHERE ${age('excluded.since')} >= ${age('p.since')}
         AND (${age('excluded.since')} >= ${age('p.upto')}
              OR (${age('excluded.upto')} >= ${age('p.upto')} AND coalesce(excluded.last_id, 0) >= coalesce(p.last_id, 0)))`,
      ),
      [consumer, channel, p.since, p.upto, p.lastId],
    );
  }

  #reader(
    channel: string,
    consumer: string | undefined,
    init: () => Promise<DurablePosition>,
    deliver: (message: DurableMessage) => Promise<void> | void,
    complete: () => void,
  ): Reader {
    const reader: Reader = {
      channel,
      consumer,
      init,
      deliver,
      complete,
      position: undefined,
      bounds: undefined,
      more: false,
      stopped: false,
      kicked: false,
      wakeUp: undefined,
      gapThrough: undefined,
    };
    this.#readers.add(reader);
    this.#startPolling();
    void this.#run(reader);
    return reader;
  }

  #stop(reader: Reader): void {
    reader.stopped = true;
    reader.wakeUp?.();
    this.#readers.delete(reader);
    if (this.#readers.size === 0) this.#wakeSubscription?.unsubscribe();
    if (this.#readers.size === 0) this.#wakeSubscription = undefined;
  }

  #kick(reader: Reader): void {
    reader.kicked = true;
    const wakeUp = reader.wakeUp;
    reader.wakeUp = undefined;
    wakeUp?.();
  }

  async #run(reader: Reader): Promise<void> {
    while (!reader.stopped) {
      reader.kicked = false;
      try {
        reader.position ??= await reader.init();
        await this.#drain(reader);
      } catch (error) {
        if (isStopped(reader) || this.#closed) return;
        this.#report(
          new ConnectionError(`Reading durable channel ${JSON.stringify(reader.channel)} failed; retrying`, {
            cause: error,
            explain: true,
          }),
        );
      }
      if (isStopped(reader)) return;
      if (!wasKicked(reader)) await new Promise<void>((resolve) => (reader.wakeUp = resolve));
    }
  }

  /** Reads until a freshly opened batch is empty. */
  async #drain(reader: Reader): Promise<void> {
    for (;;) {
      if (isStopped(reader)) return;
      const position = positionOf(reader);
      if (reader.bounds === undefined) {
        // Resume the batch of a stored or given position (a fresh one when it is empty).
        const resume = position.since !== position.upto;
        await this.#open(reader, resume);
        if (boundsOf(reader) === null && !resume) return;
        continue;
      }
      if (reader.bounds !== null && reader.more) {
        await this.#page(reader);
        continue;
      }
      // The batch is done: the next one starts at its upto snapshot.
      reader.position = { since: position.upto, upto: position.upto, lastId: '0' };
      await this.#open(reader, false);
      if (boundsOf(reader) === null) return;
    }
  }

  /**
   * Opens a batch and delivers its first page, in one round trip (a wake-up costs one query): the
   * batch ends at the reader's `upto` when resuming, else at a new snapshot. Its id range comes
   * from one index-only scan of the xids between the old snapshot's xmin and the new one's xmax;
   * the page from a range scan of (channel, id) within it. When retention deleted messages the
   * reader had not read, both snapshots are moved past the deleted xids and the gap is reported.
   */
  async #open(reader: Reader, resume: boolean): Promise<void> {
    const position = positionOf(reader);
    const s = this.#s;
    const { rows } = await this.#pool.query<OpenedRow & PageRow>(
      prepared(
        'open',
        `WITH pos AS (
         SELECT $2::pg_snapshot AS since, coalesce($3::pg_snapshot, pg_current_snapshot()) AS upto, p.through FROM ${s}.prune_state AS p
       ), adj AS (
         SELECT CASE WHEN pg_snapshot_xmin(since) <= through THEN ${s}.snapshot_through(since, through) ELSE since END AS since,
                CASE WHEN pg_snapshot_xmin(upto) <= through THEN ${s}.snapshot_through(upto, through) ELSE upto END AS upto,
                CASE WHEN pg_snapshot_xmin(since) <= through THEN through::text END AS gap
           FROM pos
       ), b AS (
         SELECT min(m.id) AS lo, max(m.id) AS hi FROM adj, ${s}.messages AS m
          WHERE m.channel = $1 AND m.xid >= pg_snapshot_xmin(adj.since) AND m.xid < pg_snapshot_xmax(adj.upto)
            AND pg_visible_in_snapshot(m.xid, adj.upto) AND NOT pg_visible_in_snapshot(m.xid, adj.since)
       ), page AS (${pageSql(s, {
         // Scalar subqueries become parameters of the index scan: a range of (channel, id), not the channel's history.
         lastId: '$4::bigint',
         lo: '(SELECT lo FROM b)',
         hi: '(SELECT hi FROM b)',
         since: '(SELECT since FROM adj)',
         upto: '(SELECT upto FROM adj)',
         inlineBytes: '$5',
         limit: '$6',
       })}
       )
       SELECT adj.since::text AS since, adj.upto::text AS upto, adj.gap, b.lo::text AS lo, b.hi::text AS hi,
              page.id::text AS id, page.pid, page.payload
         FROM adj CROSS JOIN b LEFT JOIN page ON true
        ORDER BY page.id`,
      ),
      [reader.channel, position.since, resume ? position.upto : null, resume ? position.lastId : '0', this.#inlineBytes, this.#pageSize],
    );
    const head = rows[0];
    if (head === undefined) throw new Error(`${s}.prune_state has no row: run install() again`);
    if (isStopped(reader)) return;
    if (head.gap !== null) await this.#reportGap(reader, head.gap);
    reader.position = { since: head.since, upto: head.upto, lastId: resume ? position.lastId : '0' };
    reader.bounds = head.lo === null || head.hi === null ? null : { lo: head.lo, hi: head.hi };
    const page = head.id === null ? [] : rows;
    reader.more = page.length === this.#pageSize;
    await this.#deliverRows(reader, page);
  }

  /**
   * Delivers the next page of the open batch. Retention may have deleted some of the batch since
   * it was opened (a slow consumer): the page says so, and the gap is reported before the rest.
   */
  async #page(reader: Reader): Promise<void> {
    const position = positionOf(reader);
    const bounds = reader.bounds as { lo: string; hi: string };
    const { rows } = await this.#pool.query<PageRow & { gap: string | null }>(
      prepared(
        'page',
        `WITH page AS (${pageSql(this.#s, {
          lastId: '$4::bigint',
          lo: '$5::bigint',
          hi: '$6::bigint',
          since: '$2::pg_snapshot',
          upto: '$3::pg_snapshot',
          inlineBytes: '$7',
          limit: '$8',
        })}
       )
       SELECT CASE WHEN pg_snapshot_xmin($2::pg_snapshot) <= p.through THEN p.through::text END AS gap,
              page.id::text AS id, page.pid, page.payload
         FROM ${this.#s}.prune_state AS p LEFT JOIN page ON true
        ORDER BY page.id`,
      ),
      [reader.channel, position.since, position.upto, position.lastId, bounds.lo, bounds.hi, this.#inlineBytes, this.#pageSize],
    );
    const gap = rows[0]?.gap ?? null;
    if (isStopped(reader)) return;
    if (gap !== null) await this.#reportGap(reader, gap);
    const page = rows[0]?.id === null ? [] : rows;
    reader.more = page.length === this.#pageSize;
    await this.#deliverRows(reader, page);
  }

  async #deliverRows(reader: Reader, rows: readonly PageRow[]): Promise<void> {
    const position = positionOf(reader);
    for (const row of rows) {
      if (isStopped(reader)) return;
      const id = row.id;
      if (id === null) continue;
      const payload = row.payload ?? (await this.#payloadOf(reader.channel, id));
      // A large payload is fetched on its own: the reader may have been stopped meanwhile.
      if (isStopped(reader)) return;
      const at: DurablePosition = { since: position.since, upto: position.upto, lastId: id };
      if (payload !== undefined) {
        await reader.deliver({ channel: reader.channel, payload, pid: row.pid, id, cursor: encodeCursor(at, reader.channel) });
      } else {
        // Pruned between the page and this fetch.
        this.#report(new ReplayGapError(reader.channel, 1, reader.consumer));
      }
      reader.position = at;
    }
  }

  async #payloadOf(channel: string, id: string): Promise<string | undefined> {
    const { rows } = await this.#pool.query<{ payload: string }>(
      `SELECT single_payload AS payload FROM ${this.#s}.messages WHERE channel = $1 AND id = $2`,
      [channel, id],
    );
    return rows[0]?.payload;
  }

  /**
   * Reports that retention deleted messages past this reader's position, once for each advance
   * of `through` (a batch can notice it when paging and again when the next one opens). A stored
   * consumer knows how many of its channel's messages it lost (pruning counted them): none, no
   * report. A reader without one cannot know, and says so.
   */
  async #reportGap(reader: Reader, through: string): Promise<void> {
    const advanced = BigInt(through);
    if (reader.gapThrough !== undefined && advanced <= reader.gapThrough) return;
    reader.gapThrough = advanced;
    let lost: number | undefined;
    if (reader.consumer !== undefined) {
      // Pruning counted, for each stored position it overtook, the messages it deleted unread.
      const { rows } = await this.#pool.query<{ lost: string }>(
        `UPDATE ${this.#s}.positions AS p SET lost = 0 FROM (SELECT consumer, channel, lost FROM ${this.#s}.positions
           WHERE consumer = $1 AND channel = $2 FOR UPDATE) AS old
          WHERE p.consumer = old.consumer AND p.channel = old.channel RETURNING old.lost::text AS lost`,
        [reader.consumer, reader.channel],
      );
      lost = rows[0] === undefined ? undefined : Number(rows[0].lost);
      if (lost === 0) return;
    }
    this.#report(new ReplayGapError(reader.channel, lost, reader.consumer));
  }

  // ─── polling, wake-ups and pruning ────────────────────────────────────────────────────────

  #startPolling(): void {
    if (this.#closed) return;
    if (this.#poller === undefined) {
      this.#poller = setInterval(() => {
        this.#tick();
      }, this.#pollIntervalMs);
      // Polling alone never keeps a process alive.
      this.#poller.unref();
    }
    if (this.#wakeSubscription === undefined && this.#readers.size > 0 && this.#wake$ !== undefined) {
      this.#wakeSubscription = this.#wake$.subscribe({
        next: (value) => {
          this.#wake(value);
        },
        error: (error: unknown) => {
          this.#report(new ConnectionError('The durable wake-up stream failed; polling continues', { cause: error, explain: true }));
        },
      });
    }
  }

  #stopPolling(): void {
    if (this.#poller !== undefined) clearInterval(this.#poller);
    this.#poller = undefined;
    this.#wakeSubscription?.unsubscribe();
    this.#wakeSubscription = undefined;
  }

  #wake(value: unknown): void {
    const channel = typeof value === 'object' && value !== null ? (value as { payload?: unknown }).payload : undefined;
    for (const reader of this.#readers) {
      if (typeof channel !== 'string' || channel === reader.channel) this.#kick(reader);
    }
  }

  #tick(): void {
    for (const reader of this.#readers) this.#kick(reader);
    const now = Date.now();
    if (this.#pruning === undefined && now - this.#lastPruneTry >= this.#pruneIntervalMs) {
      this.#lastPruneTry = now;
      this.#pruning = this.#prune(true)
        .catch((error: unknown) => {
          if (!this.#closed) this.#report(new ConnectionError('Pruning durable messages failed', { cause: error, explain: true }));
        })
        .finally(() => (this.#pruning = undefined));
    }
  }

  /**
   * One pruning, under a transaction-scoped try-lock (another process pruning: skip). It deletes
   * every message whose xid is below the oldest xid of a message younger than the retention (and
   * below the oldest running transaction, so no transaction can still add a message there), and
   * records the newest xid it deleted as `through`. A reader whose snapshot's xmin is at or below
   * `through` may have lost messages: it reports a gap and moves past `through`.
   */
  async #prune(periodic: boolean): Promise<number> {
    const s = this.#s;
    // Deleting a week of messages may take long: ten times a query's bound.
    const timeoutMs = this.#queryTimeoutMs * 10;
    // A failure drops the connection (BoundedPool), which rolls the transaction back.
    return this.#pool.withClient(
      async (query) => {
        await query('BEGIN', undefined, timeoutMs);
        const { rows } = await query<{ go: boolean; newest: string | null }>(
          `SELECT pg_try_advisory_xact_lock(${lockKeys(this.#schema, 'prune')})
                AND NOT ($2 AND coalesce(p.pruned_at > now() - make_interval(secs => $3 / 1000.0), false)) AS go,
                (SELECT d.xid FROM ${s}.messages AS d WHERE d.xid < least(pg_snapshot_xmin(pg_current_snapshot()),
                   (SELECT m.xid FROM ${s}.messages AS m WHERE m.created_at >= now() - make_interval(secs => $1 / 1000.0) ORDER BY m.xid LIMIT 1))
                  ORDER BY d.xid DESC LIMIT 1)::text AS newest
           FROM ${s}.prune_state AS p`,
          [this.#retentionMs, periodic, this.#pruneIntervalMs],
          timeoutMs,
        );
        const row = rows[0];
        if (row?.go !== true || row.newest === null) {
          await query('ROLLBACK', undefined, timeoutMs);
          return 0;
        }
        // Count, for each stored consumer this pruning overtakes, the messages it deletes unread.
        await query(
          `UPDATE ${s}.positions AS p SET lost = p.lost + (
           SELECT coalesce(sum(${unreadInRow('p.last_id', 'p.upto')}), 0) FROM ${s}.messages AS m
            WHERE m.channel = p.channel AND m.xid <= $1::xid8 AND m.xid >= pg_snapshot_xmin(p.since)
              AND NOT pg_visible_in_snapshot(m.xid, p.since))
         WHERE pg_snapshot_xmin(p.since) <= $1::xid8`,
          [row.newest],
          timeoutMs,
        );
        const { rows: deleted } = await query<{ n: string }>(
          `WITH d AS (DELETE FROM ${s}.messages WHERE xid <= $1::xid8 RETURNING n) SELECT coalesce(sum(n), 0)::text AS n FROM d`,
          [row.newest],
          timeoutMs,
        );
        const count = Number((deleted[0] as { n: string }).n);
        await query(
          `UPDATE ${s}.prune_state SET through = greatest(through, $1::xid8), pruned = pruned + $2, pruned_at = now()`,
          [row.newest, count],
          timeoutMs,
        );
        await query('COMMIT', undefined, timeoutMs);
        return count;
      },
      periodic ? 'read' : 'prune',
    );
  }

  #report(error: NotifierError): void {
    if (this.#closed) return;
    // A reader (or the pruning) meeting a missing schema: say what to do, once rather than at every poll.
    const missing = error instanceof ConnectionError ? missingSchemaError(error.cause, this.#schema, 'read') : undefined;
    if (missing !== undefined) {
      if (this.#missingReported) return;
      this.#missingReported = true;
    }
    this.#errors.next(missing ?? error);
  }

  /** Throws `error`, as a {@link DurableUnavailableError} when it says the schema is missing. */
  #rethrow(error: unknown, method: string): never {
    throw missingSchemaError(error, this.#schema, method) ?? error;
  }

  #assertOpen(method: string): void {
    if (this.#closed) throw new NotifierClosedError(method);
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive number of milliseconds or items, got ${String(value)}`);
  }
  return value;
}

function handlingKey(consumer: string, channel: string): string {
  return JSON.stringify([consumer, channel]);
}

function validateConsumer(consumer: unknown): string {
  if (typeof consumer !== 'string' || consumer.length === 0) {
    throw new InvalidArgumentError(`A durable consumer is a non-empty string, got ${describeValue(consumer)}`);
  }
  return consumer;
}

// Flags and fields that change while a loop awaits: read through functions, so TypeScript does not
// narrow them from an earlier check.
function isStopped(reader: Reader): boolean {
  return reader.stopped;
}

function wasKicked(reader: Reader): boolean {
  return reader.kicked;
}

function boundsOf(reader: Reader): Reader['bounds'] {
  return reader.bounds;
}

function positionOf(reader: Reader): DurablePosition {
  if (reader.position === undefined) throw new Error('pgnotifier: a durable reader has no position yet');
  return reader.position;
}
