import type { Observable } from 'rxjs';

import type { NotifierError } from '../errors/notifier-error.js';

/**
 * Where a durable reader starts: `'now'` (only messages committed after the read starts),
 * `'earliest'` (everything retained), or `{ after: cursor }` (right after that message).
 */
export type DurableStart =
  | 'now'
  | 'earliest'
  | {
      /** The cursor of the last message already seen. */
      readonly after: string;
    };

/** A durable message, as a {@link DurableSource} hands it out; the payload is still text. */
export interface DurableMessage {
  /** The channel it was published on. */
  readonly channel: string;
  /** The payload text, of any size. */
  readonly payload: string;
  /** The process id of the backend that published it. */
  readonly pid: number;
  /** The message id: a decimal string, unique within its outbox. */
  readonly id: string;
  /** Opaque: `{ after: cursor }` resumes right after this message. */
  readonly cursor: string;
}

/**
 * The durable part of a {@link NotificationSource}: messages that are stored before they are
 * announced, so nothing is lost while a connection or a consumer process is down. The notifier
 * uses it for `channel$(channel, { durable: true })` and `subscribe(..., { durable: true })`.
 *
 * Every Observable here is cold (each subscription reads on its own), keeps going across lost
 * connections (catching up from its position) and never errors for connection trouble: problems
 * go to {@link DurableSource.errors$}. Unsubscribing stops reading; nothing is lost by it.
 */
export interface DurableSource {
  /** Problems met while reading or publishing (e.g. `ReplayGapError`); none of them stops a reader. */
  readonly errors$: Observable<NotifierError>;
  /** The messages of `channel` from `start` on, in order, each once. */
  read(channel: string, start: DurableStart): Observable<DurableMessage>;
  /**
   * A consumer whose position is stored under (`consumer`, `channel`): subscribing resumes right
   * after the last message it handled (or at `'now'` when it has no position yet). Each message is
   * passed to `handle`, one at a time; the position moves past it once the promise `handle`
   * returns settles. Emits each message once it has been handled. Unsubscribing pauses: the
   * position is kept.
   */
  consume(consumer: string, channel: string, handle: (message: DurableMessage) => Promise<void>): Observable<DurableMessage>;
  /** Deletes the stored position of (`consumer`, `channel`). */
  forget(consumer: string, channel: string): Promise<void>;
  /** Stores a message and announces it; resolves with its id. */
  publish(channel: string, payload: string): Promise<string>;
  /**
   * Optional: stores many messages of one channel and announces them, all in one transaction;
   * resolves with their ids in the order of `payloads`. The notifier's `publishMany` needs it.
   */
  publishMany?(channel: string, payloads: readonly string[]): Promise<string[]>;
  /** Creates what the durable part needs where it is missing (schema, stream); safe to run concurrently. */
  install(): Promise<void>;
  /**
   * Optional: a cursor standing for now (`read(channel, { after })` with it delivers only what
   * commits later). The notifier uses it so a durable `channel$` observer's start is known.
   */
  now?(): Promise<string>;
  /**
   * Optional: the stored position of (`consumer`, `channel`) as a cursor, storing now first when
   * it has none. The notifier's durable `subscribe` resolves once it is stored.
   */
  position?(consumer: string, channel: string): Promise<string>;
  /**
   * Optional: checks a cursor a user gave (`since`) before anything is read; without it any
   * non-empty string is taken (a bad one then shows on `errors$`).
   * @throws `InvalidArgumentError` when it is not a cursor of this source, or one of `channel`'s.
   */
  checkCursor?(cursor: string, channel: string): void;
  /** Optional: how many messages of `channel` lie after `cursor` (for `status()`). */
  behind?(channel: string, cursor: string): Promise<number>;
}
