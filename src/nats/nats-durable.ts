import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerInfo,
  type JsMsg,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { Observable, Subject } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { DurableUnavailableError } from '../errors/durable-unavailable-error.js';
import type { NotifierError } from '../errors/notifier-error.js';
import type { DurableMessage, DurableSource, DurableStart } from '../source/durable-source.js';
import { durableConsumerName } from './consumer-name.js';
import { HEADER, headerOf } from './headers.js';
import { NoDatabaseError } from './no-database-error.js';
import { ensureStream, isNotFound, validateStreamName, type StreamLimits } from './stream.js';
import { decodeSubjectToken, durableSubject } from './subject-token.js';

/**
 * How long each pull request of a reader or consumer lasts (the client's default is 30 s). After
 * the NATS server restarts, a consumer's pending pull is gone and the client only notices when it
 * expires (or misses two heartbeats, at half of it): a restart then stalls delivery for up to this
 * long, silently. 5 s bounds that, for one small request per idle consumer every 5 s.
 */
const PULL_EXPIRES_MS = 5_000;

/** How long the server keeps a lag counter of {@link NatsDurable.behind} whose delete was lost. */
const COUNTER_INACTIVE_MS = 10_000;

/** Options of {@link NatsDurable}. */
export interface NatsDurableOptions {
  /** The NATS connection, once there is one. */
  readonly nats: () => Promise<NatsConnection>;
  /** The relay's subject prefix. */
  readonly subjectPrefix: string;
  /** The relay's stream. @defaultValue 'PGNOTIFIER' */
  readonly stream?: string;
  /** Limits of the stream when `install()` creates it. */
  readonly limits?: StreamLimits;
  /** The PostgreSQL outbox that `publish()` stores into; without it `publish()` throws {@link NoDatabaseError}. */
  readonly outbox?: DurableSource;
  /**
   * How long JetStream waits for an ack before redelivering, in milliseconds; a slow handler
   * keeps its message with progress acks every third of it.
   * @defaultValue 30000
   */
  readonly ackWaitMs?: number;
}

/**
 * The durable part of {@link NatsSource}: durable channels read from the relay's JetStream stream.
 * `consume` keeps a JetStream durable consumer per (consumer id, channel), starting at new
 * messages, acked once the handler settles (at-least-once across crashes); two processes
 * consuming under the same id share that consumer, and so split its messages between them.
 */
export class NatsDurable implements DurableSource {
  readonly #nats: () => Promise<NatsConnection>;
  readonly #prefix: string;
  readonly #stream: string;
  readonly #limits: StreamLimits;
  readonly #outbox: DurableSource | undefined;
  readonly #ackWaitMs: number;
  readonly #errors = new Subject<NotifierError>();
  readonly #lag = new Map<string, number>();
  #received = 0;

  readonly errors$: Observable<NotifierError> = this.#errors.asObservable();

  constructor(options: NatsDurableOptions) {
    this.#nats = options.nats;
    this.#prefix = options.subjectPrefix;
    this.#stream = validateStreamName(options.stream ?? 'PGNOTIFIER');
    this.#limits = options.limits ?? {};
    this.#outbox = options.outbox;
    this.#ackWaitMs = options.ackWaitMs ?? 30_000;
  }

  /** Durable messages handed out, and per `consume`d (consumer, channel) how many wait in the stream. */
  status(): {
    /** Durable messages handed out by `read` and `consume`. */
    readonly received: number;
    /** Per `"<consumer> <channel>"`: messages still waiting in the stream, as of the last one handled. */
    readonly lag: Record<string, number>;
  } {
    return { received: this.#received, lag: Object.fromEntries(this.#lag) };
  }

  read(channel: string, start: DurableStart): Observable<DurableMessage> {
    return new Observable<DurableMessage>((subscriber) => {
      // Shared with the async reader below, which checks it between awaits.
      const run: { stopped: boolean; stop?: () => void } = { stopped: false };
      void (async () => {
        const js = jetstream(await this.#nats());
        const options: Partial<OrderedConsumerOptions> = {
          // A string, not an array: NATS 2.9 has filter_subject only.
          filter_subjects: durableSubject(this.#prefix, channel),
          ...deliverFrom(start),
        };
        const consumer = await js.consumers.get(this.#stream, options);
        const messages = await consumer.consume({ expires: PULL_EXPIRES_MS });
        run.stop = () => {
          void messages.close();
        };
        if (run.stopped) run.stop();
        for await (const msg of messages) {
          this.#received++;
          subscriber.next(this.#message(msg));
        }
      })().catch((error: unknown) => {
        if (!run.stopped)
          this.#errors.next(
            new ConnectionError(`Cannot read the durable channel ${JSON.stringify(channel)}`, { cause: error, explain: true }),
          );
      });
      return () => {
        run.stopped = true;
        run.stop?.();
      };
    });
  }

  consume(consumer: string, channel: string, handle: (message: DurableMessage) => Promise<void>): Observable<DurableMessage> {
    return new Observable<DurableMessage>((subscriber) => {
      // Shared with the async reader below, which checks it between awaits.
      const run: { stopped: boolean; stop?: () => void } = { stopped: false };
      const name = durableConsumerName(consumer, channel);
      void (async () => {
        const nc = await this.#nats();
        await this.#ensureConsumer(nc, name, channel);
        if (run.stopped) return;
        const messages = await (
          await jetstream(nc).consumers.get(this.#stream, name)
        ).consume({ max_messages: 1, expires: PULL_EXPIRES_MS });
        run.stop = () => {
          void messages.close();
        };
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by an unsubscribe during the awaits above
        if (run.stopped) run.stop();
        for await (const msg of messages) {
          const message = this.#message(msg);
          this.#lag.set(`${consumer} ${channel}`, msg.info.pending);
          const keepAlive = setInterval(
            () => {
              msg.working();
            },
            Math.max(this.#ackWaitMs / 3, 100),
          );
          try {
            await handle(message);
          } catch {
            // The handler's own problem (the notifier reports it); the position moves on anyway.
          } finally {
            clearInterval(keepAlive);
          }
          await msg.ackAck().catch(() => false);
          this.#received++;
          subscriber.next(message);
        }
      })().catch((error: unknown) => {
        if (!run.stopped)
          this.#errors.next(
            new ConnectionError(`Cannot consume the durable channel ${JSON.stringify(channel)}`, { cause: error, explain: true }),
          );
      });
      return () => {
        run.stopped = true;
        run.stop?.();
      };
    });
  }

  /**
   * Creates the JetStream durable consumer of (`consumer`, `channel`) where it is missing (as a
   * first `consume` does) and resolves with its position, as a cursor (the stream sequence of the
   * last message delivered to it): messages published after this resolves reach it.
   */
  async position(consumer: string, channel: string): Promise<string> {
    const info = await this.#ensureConsumer(await this.#nats(), durableConsumerName(consumer, channel), channel);
    return String(info.delivered.stream_seq);
  }

  async #ensureConsumer(nc: NatsConnection, name: string, channel: string): Promise<ConsumerInfo> {
    const jsm = await jetstreamManager(nc);
    try {
      return await jsm.consumers.info(this.#stream, name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    // Two processes may add it at once: the same configuration is accepted twice.
    return jsm.consumers.add(this.#stream, {
      durable_name: name,
      filter_subject: durableSubject(this.#prefix, channel),
      deliver_policy: DeliverPolicy.New,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(this.#ackWaitMs),
      // One at a time, in order, even when two processes share the consumer.
      max_ack_pending: 1,
    });
  }

  async forget(consumer: string, channel: string): Promise<void> {
    const jsm = await jetstreamManager(await this.#nats());
    try {
      await jsm.consumers.delete(this.#stream, durableConsumerName(consumer, channel));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /**
   * A cursor standing for now: the stream's last sequence (`'0'` while there is no stream), so
   * `read(channel, { after })` with it delivers only what the stream gets later.
   */
  async now(): Promise<string> {
    const jsm = await jetstreamManager(await this.#nats());
    try {
      return String((await jsm.streams.info(this.#stream)).state.last_seq);
    } catch (error) {
      if (isNotFound(error)) return '0';
      throw error;
    }
  }

  /**
   * Cursors here are JetStream stream sequences (decimal): `{ after: '41' }` reads from the
   * stream's message 42 on, as long as the stream retains it (see {@link StreamLimits.maxAgeMs}).
   *
   * @throws `InvalidArgumentError` for anything else.
   */
  checkCursor(cursor: string): void {
    if (!/^\d{1,15}$/.test(cursor)) {
      throw new InvalidArgumentError(`Not a durable cursor of NATS (a JetStream stream sequence): ${JSON.stringify(cursor.slice(0, 100))}`);
    }
  }

  /**
   * How many messages of `channel` the stream holds after `cursor` (a stream sequence); 0 while
   * there is no stream. For `status()`.
   *
   * JetStream has no request for "messages of a subject after a sequence": stream info's
   * `subjects_filter` counts a subject's messages in the whole stream only. A new consumer's
   * `num_pending` is that count, though, computed by the server from its per-subject index without
   * delivering anything: so this creates an in-memory, unacked pull consumer filtered to the
   * channel and starting right after `cursor`, reads `num_pending` from the answer, and deletes it.
   * Two small requests, nothing pulled; `inactive_threshold` removes the consumer should the delete
   * be lost.
   *
   * @throws `InvalidArgumentError` when `cursor` is not a cursor of NATS.
   */
  async behind(channel: string, cursor: string): Promise<number> {
    this.checkCursor(cursor);
    const jsm = await jetstreamManager(await this.#nats());
    let info: ConsumerInfo;
    try {
      info = await jsm.consumers.add(this.#stream, {
        filter_subject: durableSubject(this.#prefix, channel),
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: Number(cursor) + 1,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        inactive_threshold: nanos(COUNTER_INACTIVE_MS),
      });
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
    await jsm.consumers.delete(this.#stream, info.name).catch(() => false);
    return info.num_pending;
  }

  /** Goes through the PostgreSQL outbox, which the relay carries to JetStream. @throws {@link NoDatabaseError} without one. */
  publish(channel: string, payload: string): Promise<string> {
    if (this.#outbox === undefined) throw new NoDatabaseError('publish()');
    return this.#outbox.publish(channel, payload);
  }

  /** Goes through the PostgreSQL outbox, in one transaction. @throws {@link NoDatabaseError} without one. */
  publishMany(channel: string, payloads: readonly string[]): Promise<string[]> {
    if (this.#outbox === undefined) throw new NoDatabaseError('publishMany()');
    if (this.#outbox.publishMany === undefined) throw new DurableUnavailableError('publishMany');
    return this.#outbox.publishMany(channel, payloads);
  }

  /** Creates the stream where it is absent, and the outbox's tables when there is an outbox. */
  async install(): Promise<void> {
    await Promise.all([ensureStream(await this.#nats(), this.#stream, this.#prefix, this.#limits), this.#outbox?.install()]);
  }

  /** Ends `errors$`. */
  close(): void {
    this.#errors.complete();
  }

  #message(msg: JsMsg): DurableMessage {
    // The subject is authoritative; the channel header is for people reading the stream.
    const channel = decodeSubjectToken(msg.subject.slice(this.#prefix.length + 3));
    return {
      channel,
      payload: msg.string(),
      pid: Number(headerOf(msg, HEADER.pid) ?? 0),
      id: headerOf(msg, HEADER.id) ?? String(msg.seq),
      cursor: String(msg.seq),
    };
  }
}

function deliverFrom(start: DurableStart): Partial<OrderedConsumerOptions> {
  if (start === 'now') return { deliver_policy: DeliverPolicy.New };
  if (start === 'earliest') return { deliver_policy: DeliverPolicy.All };
  return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(start.after) + 1 };
}
