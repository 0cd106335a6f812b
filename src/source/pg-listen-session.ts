import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { ClientConfig } from 'pg';
import { Observable } from 'rxjs';

import { ConnectionError } from '../errors/connection-error.js';
import { createSubscriber } from './create-subscriber.js';
import { startHeartbeat } from './heartbeat.js';
import type { RawNotification } from './notification-source.js';
import { pgPipelines } from './pipelining.js';

/** One live pg-listen connection, as {@link pgListenSession} hands it out. */
export interface PgSession {
  /** LISTEN (quoted by pg-listen, case-exact); resolves when acknowledged. */
  listen(channel: string): Promise<unknown>;
  /** UNLISTEN; resolves when acknowledged. */
  unlisten(channel: string): Promise<unknown>;
  /** Ends the session with `reason`: the session Observable errors with it. */
  fail(reason: Error): void;
}

/** What a session needs. */
export interface PgSessionOptions {
  /** The pg client configuration. */
  readonly config: ClientConfig;
  /** Heartbeat interval in milliseconds; 0 turns the heartbeat off. */
  readonly heartbeatIntervalMs: number;
  /** Heartbeat timeout in milliseconds. */
  readonly heartbeatTimeoutMs: number;
  /** Receives every notification. */
  readonly onNotification: (notification: RawNotification) => void;
  /** Receives the promise of each connection's shutdown, so `stop()` can wait for it. */
  readonly onClosing: (closed: Promise<void>) => void;
}

/** How long a closing connection may take to say goodbye before its socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;

/**
 * One connection's life as an Observable: it connects on subscribe, emits the session once
 * connected, errors with a {@link ConnectionError} when the connection fails or is lost, and
 * closes the connection on teardown, including one still connecting (it is closed the moment it
 * finishes). pg-listen's own reconnect loop is disabled (`retryLimit: 1`, no paranoid checks):
 * the caller retries by resubscribing, which also cancels cleanly, where pg-listen's loop
 * outlives `close()`.
 */
export function pgListenSession(options: PgSessionOptions): Observable<PgSession> {
  return new Observable<PgSession>((subscriber) => {
    let socket: Duplex | undefined;
    const userStream = options.config.stream;
    const config: ClientConfig = {
      connectionTimeoutMillis: 10_000,
      keepAliveInitialDelayMillis: 10_000,
      ...options.config,
      // LISTENs go out back to back rather than one round trip each: 20,000 of them take about
      // half the time (npm run bench, scenario 5), and so does listening again after a reconnect.
      pipeline: true,
      // We own the socket so a dead connection can be torn down even when pg would wait forever.
      stream: () => {
        socket = (typeof userStream === 'function' ? userStream() : undefined) ?? new Socket();
        return socket;
      },
    };
    const pgListen = createSubscriber(config, { paranoidChecking: false, retryLimit: 1, parse: (text: string) => text });
    let live = true;
    let progress = 0;
    let stopHeartbeat = (): void => undefined;

    const fail = (reason: Error): void => {
      if (live) subscriber.error(reason);
    };
    // pg-listen re-emits every notification on a second emitter keyed by channel name, which we
    // never read: drop that forwarding (a second emit and a listener-array copy per notification).
    // Were it ever to run, a channel named "error" would throw from inside pg's socket handler
    // without a listener, hence the no-op one.
    pgListen.events.removeAllListeners('notification');
    pgListen.notifications.on('error', () => undefined);
    pgListen.events.on('error', (cause: unknown) => {
      fail(new ConnectionError('The listening connection was lost', { cause }));
    });
    pgListen.events.on('notification', (notification: { channel: string; payload?: unknown; processId: number }) => {
      progress++;
      options.onNotification({
        channel: notification.channel,
        payload: typeof notification.payload === 'string' ? notification.payload : '',
        pid: notification.processId,
      });
    });
    // Queries are sent in the order asked. A pipelining pg writes each at once; an older one gets
    // them one at a time, as it deprecates queueing queries on a busy client (pg 9 drops that).
    const pipelined = pgPipelines();
    let tail: Promise<unknown> = Promise.resolve();
    const answered = <T>(query: () => Promise<T> | undefined): Promise<T | undefined> => {
      const result = tail.then(query).then((value) => {
        progress++;
        return value;
      });
      if (!pipelined) tail = result.catch(() => undefined);
      return result;
    };

    const session: PgSession = {
      listen: (channel) => answered(() => pgListen.listenTo(channel)),
      unlisten: (channel) => answered(() => pgListen.unlisten(channel)),
      fail,
    };

    pgListen.connect().then(
      () => {
        if (!live) return;
        if (options.heartbeatIntervalMs > 0) {
          // The ping alternates LISTEN and UNLISTEN of a private channel: a round trip that, unlike
          // a NOTIFY, writes nothing to the server's notification queue.
          const heartbeatChannel = `pgnotifier.heartbeat.${process.pid}.${Math.random().toString(36).slice(2, 10)}`;
          let listening = false;
          stopHeartbeat = startHeartbeat({
            intervalMs: options.heartbeatIntervalMs,
            timeoutMs: options.heartbeatTimeoutMs,
            ping: () => {
              listening = !listening;
              return answered(() => (listening ? pgListen.listenTo(heartbeatChannel) : pgListen.unlisten(heartbeatChannel)));
            },
            progress: () => progress,
            onDead: (error) => {
              socket?.destroy();
              fail(error);
            },
          });
        }
        subscriber.next(session);
      },
      (cause: unknown) => {
        fail(new ConnectionError('Could not connect to PostgreSQL', { cause, explain: true }));
      },
    );

    return () => {
      live = false;
      stopHeartbeat();
      options.onClosing(
        closeQuietly(
          () => pgListen.close(),
          () => socket,
        ),
      );
    };
  });
}

/** Ends the connection politely, and destroys its socket if that takes too long. */
async function closeQuietly(close: () => Promise<void>, socket: () => Duplex | undefined): Promise<void> {
  const timer = setTimeout(() => socket()?.destroy(), CLOSE_GRACE_MS);
  try {
    await close();
  } catch {
    // Closing a connection that already failed may reject; it is closed either way.
  } finally {
    clearTimeout(timer);
  }
  // A connect still in flight may complete after close(): make sure its socket goes too.
  socket()?.destroy();
}
