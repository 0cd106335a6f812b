import type { Observable, ObservableInput } from 'rxjs';

import type { NotifierError } from '../errors/notifier-error.js';
import type { ConnectionState } from '../types.js';
import type { DurableSource } from './durable-source.js';
import type { ServerStatus } from './server-status.js';

/** A notification as it comes off the wire, before its payload is parsed. */
export interface RawNotification {
  /** The channel it was sent on. */
  readonly channel: string;
  /** The payload text (`''` when none was sent). */
  readonly payload: string;
  /** The process id of the sending backend. */
  readonly pid: number;
}

/**
 * A value of {@link NotificationSource.state$}: the connection state, and for `connected` the
 * number of the session, which changes with every new connection.
 */
export interface SourceState extends ConnectionState {
  /** Counts the connections made since the source was created; set while `connected`. */
  readonly session?: number;
  /** The process id of the listening backend, where known; set while `connected`. */
  readonly pid?: number;
}

/**
 * Where notifications enter pgnotifier: one listening connection (or a stand-in for it).
 *
 * The {@link Notifier} decides which channels to LISTEN; the source only carries out LISTEN and
 * UNLISTEN on its current session, reports sessions coming and going on `state$`, and forwards
 * notifications. `PgListenSource` implements it over pg-listen; `MemorySource` in memory, for
 * tests.
 */
export interface NotificationSource {
  /** Every notification received, on every channel, in arrival order. Hot; never errors. */
  readonly notifications$: Observable<RawNotification>;
  /**
   * The connection state, current value first. A new `session` number on `connected` means a new
   * connection: nothing is LISTENed on it yet.
   */
  readonly state$: Observable<SourceState>;
  /** Opens the connection and keeps it open (reconnecting as needed) until `stop()`. */
  start(): void;
  /** Closes the connection and cancels everything in flight; resolves once it is closed. */
  stop(): Promise<void>;
  /**
   * Drops the current session and reconnects with backoff, e.g. after the server refused a
   * LISTEN. `reason` is reported in `state$`.
   */
  recycle(reason: Error): void;
  /** LISTENs on the current session; completes once the server acknowledged it. */
  listen(channel: string): ObservableInput<unknown>;
  /** UNLISTENs on the current session; completes once the server acknowledged it. */
  unlisten(channel: string): ObservableInput<unknown>;
  /** Sends one notification with an already serialised payload. */
  send(channel: string, payload: string): Promise<void>;
  /** Releases everything for good (after `stop()`). */
  dispose(): Promise<void>;
  /**
   * Problems of the source that are not a change of connection state (e.g. `QueueUsageWarning`),
   * where it has any; the notifier forwards them to its `errors$`. Hot; never errors.
   */
  readonly errors$?: Observable<NotifierError>;
  /** What the source knows of the server session, where it knows anything; for `status()`. */
  server?(): ServerStatus | undefined;
  /**
   * Durable channels, where the source offers them: stored messages that survive lost
   * connections and restarts. Without it, `{ durable: true }` calls are refused.
   */
  readonly durable?: DurableSource;
}
