import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { ClientConfig } from 'pg';
import pg from 'pg';
import { Observable } from 'rxjs';

import { ChannelRefusedError } from '../errors/channel-refused-error.js';
import { ConnectionError } from '../errors/connection-error.js';
import { StandbyError } from '../errors/standby-error.js';
import { TransactionPoolerError } from '../errors/transaction-pooler-error.js';
import { createSubscriber } from './create-subscriber.js';
import { startHeartbeat } from './heartbeat.js';
import type { RawNotification } from './notification-source.js';
import { pgPipelines } from './pipelining.js';
import { SESSION_SETTINGS_SQL } from './session-settings.js';
import { WireTap } from './wire-tap.js';

/** One live pg-listen connection, as {@link pgListenSession} hands it out. */
export interface PgSession {
  /**
   * LISTEN (always quoted with pg's `escapeIdentifier`, case-exact); resolves when acknowledged.
   * Rejects with {@link ChannelRefusedError} when the server refuses this channel for a reason of
   * its own, with {@link StandbyError} on a standby, with {@link ConnectionError} otherwise.
   */
  listen(channel: string): Promise<unknown>;
  /** UNLISTEN, quoted likewise; resolves when acknowledged; rejects like `listen`. */
  unlisten(channel: string): Promise<unknown>;
  /** The backend's process id. */
  readonly pid: number | undefined;
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
  /** Receives `pg_notification_queue_usage()` (0 to 1) after each heartbeat. */
  readonly onQueueUsage: (usage: number) => void;
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
    const clientConfig: ClientConfig = {
      connectionTimeoutMillis: 10_000,
      keepAliveInitialDelayMillis: 10_000,
      ...options.config,
      // pg-listen sets it on its client; here it must be on the connection, which we build.
      keepAlive: true,
      // LISTENs go out back to back rather than one round trip each: 20,000 of them take about
      // half the time (npm run bench, scenario 5), and so does listening again after a reconnect.
      pipeline: true,
      // We own the socket so a dead connection can be torn down even when pg would wait forever.
      stream: () => {
        socket = (typeof userStream === 'function' ? userStream() : undefined) ?? new Socket();
        // pg attaches its error listener only after socket.connect() returns: when that throws
        // (a bad port), ending the client writes to the dead socket, whose 'error' would crash.
        socket.on('error', () => undefined);
        return socket;
      },
    };
    const wire = new WireTap(clientConfig);
    const config = { ...clientConfig, connection: wire.connection } as ClientConfig;
    const pgListen = createSubscriber(config, { paranoidChecking: false, retryLimit: 1, parse: (text: string) => text });
    let live = true;
    let progress = 0;
    let stopHeartbeat = (): void => undefined;

    const fail = (reason: Error): void => {
      if (live) subscriber.error(reason);
    };
    // What ended the connection, in the server's words when it said something (a FATAL with its
    // SQLSTATE: 57P01 terminated by an administrator, 57P05 idle-session timeout, …), else the
    // socket's error, else pg-listen's own wording.
    const lost = (cause: unknown): ConnectionError => {
      const failure = wire.failure;
      if (failure === undefined) return new ConnectionError('The listening connection was lost', { cause });
      return new ConnectionError(`The listening connection was lost: ${failure.message}`, { cause: failure, ...failure });
    };
    // pg-listen re-emits every notification on a second emitter keyed by channel name, which we
    // never read: drop that forwarding (a second emit and a listener-array copy per notification).
    // Were it ever to run, a channel named "error" would throw from inside pg's socket handler
    // without a listener, hence the no-op one.
    pgListen.events.removeAllListeners('notification');
    pgListen.notifications.on('error', () => undefined);
    pgListen.events.on('error', (cause: unknown) => {
      fail(lost(cause));
    });
    pgListen.events.on('notification', (notification: { channel: string; payload?: unknown; processId: number }) => {
      progress++;
      if (notification.channel === probeChannel) {
        probed = true;
        return;
      }
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
    // Every query of ours goes through pg-listen's client by way of the tap (see WireTap.route).
    const query = (sql: string): Promise<pg.QueryResult> => {
      const result = tail
        .then(() => pgListen.notify(wire.route(sql)))
        .then((value) => {
          progress++;
          return value;
        });
      if (!pipelined) tail = result.catch(() => undefined);
      return result;
    };
    const command = (verb: 'LISTEN' | 'UNLISTEN', channel: string): Promise<unknown> =>
      query(`${verb} ${pg.escapeIdentifier(channel)}`).catch((cause: unknown) => {
        throw refusal(verb, channel, cause, wire);
      });

    const session: PgSession = {
      listen: (channel) => command('LISTEN', channel),
      unlisten: (channel) => command('UNLISTEN', channel),
      get pid() {
        return wire.pid;
      },
      fail,
    };

    let connected = false;
    let heartbeatIntervalMs = options.heartbeatIntervalMs;
    const setUp = async (): Promise<void> => {
      await pgListen.connect();
      connected = true;
      if (!live) return;
      // Our session must not be ended by the role's or database's timeouts (notifications do not
      // reset idle_session_timeout); set here rather than as startup `options`, which PgBouncer
      // refuses and PostgreSQL < 14 fails on for idle_session_timeout.
      // Best effort: where the settings cannot be made (no PL/pgSQL, a pooler in the way), the
      // heartbeat is kept below whatever idle_session_timeout is left in force (read after them).
      const [, identity] = await Promise.all([
        query(SESSION_SETTINGS_SQL).catch(() => undefined),
        query(
          "SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.pg_is_in_recovery() AS standby, pg_catalog.current_setting('idle_session_timeout', true) AS idle",
        ),
      ]);
      const row = identity.rows[0] as { pid: number; standby: boolean; idle: string | null } | undefined;
      heartbeatIntervalMs = belowIdleTimeout(options.heartbeatIntervalMs, row?.idle ?? null);
      // PostgreSQL 14+ says so at connect time (in_hot_standby); older ones only when asked.
      if (row?.standby === true || wire.parameter('in_hot_standby') === 'on') throw new StandbyError();
      // Behind a pooler the BackendKeyData pid is the pooler's, not the server's: make sure the
      // session is really ours, by a NOTIFY to ourselves that must come back on this connection.
      if (row !== undefined && wire.pid !== undefined && row.pid !== wire.pid) await probe();
    };

    // LISTENs to a private channel and NOTIFYs it in a separate statement: on a real session the
    // notification comes back at once; through a transaction-mode pooler the LISTEN stays on a
    // server session we no longer hold, and it does not come (or only by luck of reuse).
    let probeChannel: string | undefined;
    let probed = false;
    const probe = async (): Promise<void> => {
      probeChannel = `pgnotifier.probe.${String(process.pid)}.${Math.random().toString(36).slice(2, 10)}`;
      const quoted = pg.escapeIdentifier(probeChannel);
      await query(`LISTEN ${quoted}`);
      await query(`NOTIFY ${quoted}`);
      const deadline = Date.now() + Math.min(options.heartbeatTimeoutMs, 5_000);
      while (!probed && live && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      await query(`UNLISTEN ${quoted}`);
      if (!probed) throw new TransactionPoolerError();
    };

    setUp().then(
      () => {
        if (!live) return;
        if (heartbeatIntervalMs > 0) {
          // The ping reads the queue usage: a round trip that, unlike a NOTIFY, writes nothing to
          // the server's notification queue, and that status() reports.
          stopHeartbeat = startHeartbeat({
            intervalMs: heartbeatIntervalMs,
            timeoutMs: options.heartbeatTimeoutMs,
            ping: () =>
              query('SELECT pg_catalog.pg_notification_queue_usage() AS usage').then((result) => {
                const usage = (result.rows[0] as { usage?: unknown } | undefined)?.usage;
                if (typeof usage === 'number') options.onQueueUsage(usage);
              }),
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
        if (cause instanceof ConnectionError) fail(cause);
        else if (connected && wire.failure !== undefined) fail(lost(cause));
        else if (connected) fail(new ConnectionError('Could not set up the listening session', { cause, explain: true }));
        else fail(new ConnectionError('Could not connect to PostgreSQL', { cause, explain: true }));
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

/** Units of a time setting as `current_setting()` shows it, in milliseconds. */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The heartbeat interval to use under an `idle_session_timeout` still in force (`'0'`, `'300ms'`,
 * `'1min'`; null when the server has no such setting): at most a third of it, so a ping always
 * comes before the server's timer runs out. A heartbeat that is off is turned on for it.
 */
function belowIdleTimeout(intervalMs: number, idle: string | null): number {
  const match = idle === null ? null : /^(\d+)\s*(ms|s|min|h|d)?$/.exec(idle.trim());
  if (match === null) return intervalMs;
  const timeoutMs = Number(match[1]) * (UNITS[match[2] ?? 'ms'] ?? 1);
  if (timeoutMs <= 0) return intervalMs;
  const cap = Math.max(Math.floor(timeoutMs / 3), 1);
  return intervalMs === 0 ? cap : Math.min(intervalMs, cap);
}

/**
 * SQLSTATE classes that mean the session (not the channel) is in trouble: connection exceptions,
 * operator intervention (shutdown, termination), insufficient resources, system errors.
 */
const SESSION_CLASSES = new Set(['08', '53', '57', '58', 'XX']);

/** What a refused LISTEN/UNLISTEN means: a standby, a broken session, or this channel only. */
function refusal(verb: 'LISTEN' | 'UNLISTEN', channel: string, cause: unknown, wire: WireTap): Error {
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (code === '25006') return new StandbyError({ cause });
  if (typeof code !== 'string' || SESSION_CLASSES.has(code.slice(0, 2)) || wire.failure !== undefined) {
    return new ConnectionError(`The server refused ${verb} of ${JSON.stringify(channel)}`, { cause, explain: true });
  }
  return new ChannelRefusedError(verb, channel, cause);
}

/**
 * Ends the connection politely, and destroys its socket if that takes too long. Settles within
 * CLOSE_GRACE_MS whatever state pg is in: pg's `end()` never settles for a client whose socket
 * threw synchronously while connecting (a port out of range), nor over a half-open connection.
 */
async function closeQuietly(close: () => Promise<void>, socket: () => Duplex | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  let closing: Promise<void>;
  try {
    closing = close().catch(() => undefined);
  } catch {
    // Closing a connection that already failed may throw; it is closed either way.
    closing = Promise.resolve();
  }
  await Promise.race([closing, grace]);
  clearTimeout(timer);
  // A connect still in flight may complete after close(): make sure its socket goes too.
  socket()?.destroy();
}
