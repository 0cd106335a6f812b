// The listening and sending connections against what servers, networks and configs do to them
// (issue 10, items 1-6, 8, 9 and its "also expected" list). Faults go to a private PostgreSQL
// started here, or a private hot standby; never the shared service.
import { Socket } from 'node:net';

import type { ClientConfig } from 'pg';

import { filter, firstValueFrom } from 'rxjs';

import {
  ConnectionError,
  InvalidArgumentError,
  NotifierClosedError,
  Notifier,
  PgDurableSource,
  QueueUsageWarning,
  StandbyError,
  TransactionPoolerError,
  type ConnectionState,
  type NotifierError,
} from '../src/index.js';
import { closer, connectClient, sleep, uniqueChannel, waitFor } from './support/db.js';
import { startHotStandby } from './support/hot-standby.js';
import { usePrivatePostgres } from './support/private-postgres.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { startFakeTransactionPooler } from './support/transaction-pooler.js';

jest.setTimeout(120_000);

const notifiers = closer();
const priv = usePrivatePostgres();
afterEach(() => notifiers.closeAll());

async function backendsOf(app: string): Promise<{ pid: number; application_name: string }[]> {
  const { rows } = await priv.admin.query<{ pid: number; application_name: string }>(
    'SELECT pid, application_name FROM pg_stat_activity WHERE application_name LIKE $1 ORDER BY application_name',
    [`${app}%`],
  );
  return rows;
}

/** Resolves with `promise`'s outcome, or `'pending'` if it has not settled within `ms`. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => {
      resolve('pending');
    }, ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// PostgreSQL's reserved key words (SQL Key Words appendix, "reserved" in the PostgreSQL column):
// pg-format's list is PostgreSQL 9.2's and misses some (fetch, window, …); every one must work.
const RESERVED = (
  'all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create ' +
  'current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc ' +
  'distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral ' +
  'leading limit localtime localtimestamp not null offset on only or order placing primary references returning ' +
  'select session_user some symmetric table then to trailing true union unique user using variadic when where window with'
).split(' ');

test('item 1: every reserved word, and names needing quotes, is LISTENed and delivered; none takes the others down', async () => {
  const n = notifiers.track(new Notifier(priv.server.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 500 } }));
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  const odd = ['Fetch', 'a b', 'quo"te', 'dollar$', '1st', 'ünï', 'x.y'];
  const channels = [...RESERVED, ...odd];
  const got = new Set<string>();
  for (const channel of channels) n.channel$(channel, { parse: 'raw' }).subscribe(() => got.add(channel));
  const started = await settledWithin(n.start(), 20_000);
  expect(started).not.toBe('pending');
  expect(errors.map((error) => error.message)).toEqual([]);
  expect(n.activeChannels().sort()).toEqual([...channels].sort());
  for (const channel of channels) await priv.admin.query('SELECT pg_notify($1, $2)', [channel, 'x']);
  await waitFor('every channel delivered', () => got.size === channels.length);
  // The session these ran on is still the first one.
  expect(n.status().counters.connectionErrors).toBe(0);
});

test('item 2: a hot standby is reported as such, and the backoff grows across its short-lived sessions', async () => {
  const standby = await startHotStandby();
  try {
    const n = notifiers.track(new Notifier(standby.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 5_000 } }));
    const errors: NotifierError[] = [];
    n.errors$.subscribe((error) => errors.push(error));
    void n.subscribe('s', uniqueChannel('standby'), () => undefined);
    await waitFor('the first refusal', () => errors.length > 0);
    const first = errors[0];
    expect(first).toBeInstanceOf(StandbyError);
    expect(first?.message).toBe('Connected to a read-only standby; LISTEN needs the primary');
    expect(first).toMatchObject({ code: '25006' });
    const seen = errors.length;
    await sleep(4_000);
    // Backoff 50, 100, 200, … ms: about 7 sessions in 4 s. Resetting it on every connect made
    // about 12 a second (48 here).
    expect(errors.length - seen).toBeLessThan(12);
    expect(errors.every((error) => error instanceof StandbyError)).toBe(true);
    const state = await firstValueFrom(n.state$);
    expect(state.error).toBeInstanceOf(StandbyError);
    await n.close();
  } finally {
    await standby.destroy();
  }
});

async function halfOpenNotifier(notifyTimeoutMs: number): Promise<{ n: Notifier; channel: string; close: () => Promise<void> }> {
  const proxy = await startTcpProxy(priv.server.port);
  const n = new Notifier(
    { host: '127.0.0.1', port: proxy.port, user: 'postgres', password: 'postgres', database: 'postgres' },
    { notifyTimeoutMs, heartbeatIntervalMs: 0 },
  );
  const channel = uniqueChannel('half_open');
  await n.notify(channel, 1); // a sending connection exists now
  proxy.blackhole();
  return { n, channel, close: () => proxy.close() };
}

test('item 3: notify() over a half-open connection rejects after notifyTimeoutMs', async () => {
  const { n, channel, close } = await halfOpenNotifier(500);
  try {
    const sent = await settledWithin(n.notify(channel, 2), 15_000);
    expect(sent).toEqual({ error: expect.any(ConnectionError) as ConnectionError });
    expect(await settledWithin(n.close(), 15_000)).toEqual({ value: undefined });
  } finally {
    await close();
  }
});

test('item 3: close() settles with a notify() pending on a half-open connection, and rejects it', async () => {
  const { n, channel, close } = await halfOpenNotifier(60_000);
  try {
    const pending = settledWithin(n.notify(channel, 2), 15_000);
    await sleep(50);
    expect(await settledWithin(n.close(), 15_000)).toEqual({ value: undefined });
    expect(await pending).toEqual({ error: expect.any(NotifierClosedError) as NotifierClosedError });
  } finally {
    await close();
  }
});

test('item 4: a port the socket would throw on is refused by the constructor', () => {
  expect(() => new Notifier({ port: 70_000 })).toThrow(InvalidArgumentError);
  expect(() => new Notifier({ port: 'abc' as unknown as number })).toThrow(InvalidArgumentError);
  expect(() => new Notifier('postgres://u@localhost:0/db')).toThrow(InvalidArgumentError);
  const saved = process.env.PGPORT;
  process.env.PGPORT = 'abc';
  try {
    expect(() => new Notifier({ host: '127.0.0.1' })).toThrow(InvalidArgumentError);
  } finally {
    if (saved === undefined) delete process.env.PGPORT;
    else process.env.PGPORT = saved;
  }
});

test('item 4: a config every connect would fail on the same way is refused by the constructor, wherever pg reads it', () => {
  const refused = (config: string | ClientConfig, why: RegExp): void => {
    expect(() => new Notifier(config)).toThrow(InvalidArgumentError);
    expect(() => new Notifier(config)).toThrow(why);
  };
  // pg cannot build a client from it (it threw a TypeError or a plain Error from the constructor).
  refused('postgres://u@[::1/db', /pg cannot use this connection config: Invalid URL/);
  refused({ host: 123 as unknown as string }, /pg cannot use/);
  refused({ sslnegotiation: 'x' } as unknown as ClientConfig, /sslnegotiation/);
  // A NUL in a socket directory: ENOENT on every attempt. In a startup string: the server refuses
  // the startup packet (08P01) on every attempt.
  refused({ host: '/var/run/post\0gresql' }, /host must not contain a NUL/);
  refused('postgres://post%00gres@127.0.0.1/db', /user must not contain a NUL/);
  refused({ host: '127.0.0.1', database: 'te\0st' }, /database must not contain a NUL/);
  refused({ host: '127.0.0.1', application_name: 'a\0b' }, /application_name must not contain a NUL/);
  refused({ host: '127.0.0.1', options: '-c a\0=b' }, /options must not contain a NUL/);
  // Timeouts the server refuses at every connect (22023), and one that times out every query.
  refused({ host: '127.0.0.1', statement_timeout: -5 }, /statement_timeout/);
  refused({ host: '127.0.0.1', lock_timeout: 3e9 }, /lock_timeout/);
  refused('postgres://u@127.0.0.1/db?idle_in_transaction_session_timeout=abc', /idle_in_transaction_session_timeout/);
  refused({ host: '127.0.0.1', query_timeout: -5 }, /query_timeout/);
  refused('postgres://u@127.0.0.1/db?query_timeout=abc', /query_timeout/);
  // A replication connection cannot LISTEN (0A000 on every session).
  refused({ host: '127.0.0.1', replication: 'database' } as ClientConfig, /replication/);
  // What does work is still accepted.
  const accepted: (string | ClientConfig)[] = [
    { host: '127.0.0.1', statement_timeout: 0, lock_timeout: 0, idle_in_transaction_session_timeout: 1_000 },
    'postgres://u@127.0.0.1/db?query_timeout=5000&statement_timeout=0',
    { host: 'localhost', port: '5432' as unknown as number, query_timeout: 1_000 },
  ];
  for (const config of accepted) {
    expect(() => new Notifier(config)).not.toThrow();
  }
});

test('item 4: a durable source refuses the same configs (its pools connect only when first used)', () => {
  expect(() => new PgDurableSource({ port: 70_000 })).toThrow(InvalidArgumentError);
  expect(() => new PgDurableSource('postgres://u@127.0.0.1/db?statement_timeout=-1')).toThrow(/statement_timeout/);
  expect(() => new PgDurableSource({ host: '127.0.0.1', user: 'u\0' })).toThrow(/user must not contain a NUL/);
});

test('item 4: stop() and close() settle when the socket throws synchronously on connect', async () => {
  const throwing = (): Socket => {
    const socket = new Socket();
    socket.connect = () => {
      throw new RangeError('Port should be >= 0 and < 65536');
    };
    return socket;
  };
  const n = new Notifier({ stream: throwing }, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
  const failed = firstValueFrom(n.state$.pipe(filter((state: ConnectionState) => state.error !== undefined)));
  // The failure is reported on errors$ too: read it there (unread, it would become a process warning).
  const reported = firstValueFrom(n.errors$);
  void n.start();
  expect((await failed).error?.message).toMatch(/Port should be/);
  expect(await reported).toMatchObject({ name: 'ConnectionError', message: expect.stringMatching(/Port should be/) as string });
  expect(await settledWithin(n.stop(), 15_000)).toEqual({ value: undefined });
  expect(await settledWithin(n.close(), 15_000)).toEqual({ value: undefined });
});

/**
 * A notifier on the private server logging in as `role` (password 'pw'), with a heartbeat every
 * 5 s, started, observing `channel`: its errors and the payloads it got.
 */
async function startedAs(role: string, channel: string): Promise<{ n: Notifier; errors: NotifierError[]; got: unknown[] }> {
  const n = notifiers.track(
    new Notifier(
      { host: '127.0.0.1', port: priv.server.port, user: role, password: 'pw', database: 'postgres' },
      { heartbeatIntervalMs: 5_000 },
    ),
  );
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  const got: unknown[] = [];
  n.channel$(channel).subscribe((x) => got.push(x.payload));
  await n.start();
  return { n, errors, got };
}

test('item 5: a role with idle_session_timeout does not end the listening session', async () => {
  const role = uniqueChannel('idle_role');
  await priv.admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
  await priv.admin.query(`ALTER ROLE ${role} SET idle_session_timeout = '300ms'`);
  await priv.admin.query(`ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '300ms'`);
  const channel = uniqueChannel('idle');
  const { n, errors, got } = await startedAs(role, channel);
  await sleep(1_500); // five idle timeouts' worth, and no ping in between
  await n.notify(channel, 1);
  await sleep(1_000);
  await n.notify(channel, 2); // the sending connection sat idle too
  await waitFor('both notifications', () => got.length === 2);
  expect(errors.map((error) => error.message)).toEqual([]);
  await n.close();
  await priv.admin.query(`DROP ROLE ${role}`);
});

test('item 5: where the settings cannot be made, the heartbeat is kept below the idle_session_timeout in force', async () => {
  const role = uniqueChannel('idle_noplpgsql');
  await priv.admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
  await priv.admin.query(`ALTER ROLE ${role} SET idle_session_timeout = '600ms'`);
  // Without PL/pgSQL the settings block fails: the notifier must fall back, not give up.
  await priv.admin.query('REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC');
  try {
    const channel = uniqueChannel('idle2');
    const { n, errors, got } = await startedAs(role, channel);
    await sleep(2_000);
    await priv.admin.query('SELECT pg_notify($1, $2)', [channel, '1']);
    await waitFor('the notification', () => got.length === 1);
    expect(errors.map((error) => error.message)).toEqual([]);
    await n.close();
  } finally {
    await priv.admin.query('GRANT USAGE ON LANGUAGE plpgsql TO PUBLIC');
    await priv.admin.query(`DROP ROLE ${role}`);
  }
});

test("item 6: the server's reason for a lost connection reaches errors$ and state$ with its SQLSTATE", async () => {
  const app = uniqueChannel('reason');
  const n = notifiers.track(new Notifier({ connectionString: priv.server.url, application_name: app }));
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  await n.subscribe('s', uniqueChannel('c'), () => undefined);
  const reconnecting = firstValueFrom(n.state$.pipe(filter((state: ConnectionState) => state.status === 'reconnecting')));
  const pid = n.status().server?.pid;
  expect(pid).toBe((await backendsOf(app))[0]?.pid);
  await priv.admin.query('SELECT pg_terminate_backend($1)', [pid]);
  const state = await reconnecting;
  expect(state.error).toBeInstanceOf(ConnectionError);
  expect(state.error).toMatchObject({ code: '57P01' });
  expect(state.error?.message).toMatch(/terminating connection due to administrator command/);
  await waitFor('the error', () => errors.length > 0);
  expect(errors[0]).toMatchObject({ code: '57P01' });
});

test('item 8: durations beyond the timer range are refused', () => {
  for (const options of [
    { heartbeatIntervalMs: 2 ** 31 },
    { heartbeatTimeoutMs: 2 ** 31 },
    { reconnect: { maxDelayMs: 2 ** 31 } },
    { reconnect: { initialDelayMs: 1e12 } },
    { notifyTimeoutMs: 2 ** 31 },
  ]) {
    expect(() => new Notifier(priv.server.url, options)).toThrow(InvalidArgumentError);
  }
  expect(() => new Notifier(priv.server.url, { heartbeatIntervalMs: 2 ** 31 - 1 })).not.toThrow();
});

test('item 9: event-loop stalls longer than heartbeatTimeoutMs right after pings are not a dead server', async () => {
  const n = notifiers.track(new Notifier(priv.server.url, { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 }));
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  const channel = uniqueChannel('stall');
  const got: unknown[] = [];
  n.channel$(channel).subscribe((x) => got.push(x.payload));
  await n.start();
  for (let round = 1; round <= 10; round++) {
    // Sent before the stall: it reaches our socket while the loop is blocked.
    await priv.admin.query('SELECT pg_notify($1, $2)', [channel, String(round)]);
    const until = Date.now() + 500;
    while (Date.now() < until) {
      // blocked, as by a long synchronous task
    }
    await sleep(20 + round * 7);
  }
  await waitFor('all ten', () => got.length === 10);
  expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(errors.map((error) => error.message)).toEqual([]);
});

test('status() reports the listening pid and the queue usage; the sending pool has its own application_name', async () => {
  const app = uniqueChannel('names');
  const n = notifiers.track(new Notifier({ connectionString: priv.server.url, application_name: app }, { heartbeatIntervalMs: 50 }));
  await n.subscribe('s', uniqueChannel('c'), () => undefined);
  await n.notify(uniqueChannel('other'), 1);
  const sessions = await backendsOf(app);
  expect(sessions.map((s) => s.application_name)).toEqual([app, `${app}:notify`]);
  await waitFor('a heartbeat', () => n.status().server?.queueUsage !== undefined);
  expect(n.status().server).toEqual({ pid: sessions[0]?.pid, queueUsage: 0 });
});

test('a password given as a function is called again for every new connection', async () => {
  const app = uniqueChannel('password');
  let calls = 0;
  const n = notifiers.track(
    new Notifier(
      {
        host: '127.0.0.1',
        port: priv.server.port,
        user: 'postgres',
        database: 'postgres',
        application_name: app,
        password: () => {
          calls++;
          return Promise.resolve('postgres');
        },
      },
      { reconnect: { initialDelayMs: 10, maxDelayMs: 100 } },
    ),
  );
  // Each termination is reported on errors$: read there (unread, it would become a process warning).
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  await n.subscribe('s', uniqueChannel('c'), () => undefined);
  expect(calls).toBe(1);
  for (let round = 1; round <= 3; round++) {
    const resynced = firstValueFrom(n.resync$);
    await priv.admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
    await resynced;
    expect(calls).toBe(1 + round);
  }
  await n.notify(uniqueChannel('x'), 1);
  expect(calls).toBe(5);
  expect(errors.map((error) => [error.name, (error as { code?: unknown }).code])).toEqual(Array(3).fill(['ConnectionError', '57P01']));
});

test('a pooler in transaction mode is recognised and reported with what to do', async () => {
  const pooler = await startFakeTransactionPooler(priv.server.port);
  try {
    const n = notifiers.track(
      new Notifier(
        { host: '127.0.0.1', port: pooler.port, user: 'postgres', password: 'postgres', database: 'postgres' },
        { heartbeatTimeoutMs: 500, reconnect: { initialDelayMs: 1_000, maxDelayMs: 5_000 } },
      ),
    );
    const errors: NotifierError[] = [];
    n.errors$.subscribe((error) => errors.push(error));
    void n.subscribe('s', uniqueChannel('pooled'), () => undefined);
    await waitFor('the report', () => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(TransactionPoolerError);
    expect(errors[0]?.message).toMatch(/pooler in transaction mode.*session-mode/);
    expect(n.isRunning()).toBe(false);
  } finally {
    await pooler.close();
  }
});

// Last in this file: it restarts the private server with a small notification queue.
test('a queue past 50 % full gives one QueueUsageWarning per crossing, naming the causes', async () => {
  const { rows } = await priv.admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_settings WHERE name = 'max_notify_queue_pages'");
  if (rows[0]?.n !== '1') return; // PostgreSQL < 17 cannot shrink the queue; the embedded server is 17
  await priv.admin.query('ALTER SYSTEM SET max_notify_queue_pages = 64'); // the minimum: 512 kB
  await priv.admin.end();
  await priv.server.stop();
  await priv.server.start();
  await priv.reconnectAdmin();
  const stuck = await connectClient(priv.server.url);
  try {
    const n = notifiers.track(new Notifier(priv.server.url, { heartbeatIntervalMs: 50 }));
    const warnings: NotifierError[] = [];
    n.errors$.subscribe((error) => warnings.push(error));
    await n.subscribe('s', uniqueChannel('q'), () => undefined);
    // A listener that does not read: LISTEN, then sit in a transaction.
    const channel = uniqueChannel('stuck');
    await stuck.query(`LISTEN ${channel}`);
    await stuck.query('BEGIN');
    await stuck.query('SELECT 1');
    const big = 'x'.repeat(7_900);
    const fill = async (count: number) => {
      for (let i = 0; i < count; i++) await priv.admin.query('SELECT pg_notify($1, $2)', [channel, big]);
    };
    await fill(40); // about 60 % of 512 kB
    await waitFor('the warning', () => warnings.length > 0);
    expect(warnings[0]).toBeInstanceOf(QueueUsageWarning);
    expect(warnings[0]?.message).toMatch(/does not read.*long transaction/);
    expect(n.status().server?.queueUsage).toBeGreaterThan(0.5);
    const before = n.status().server?.queueUsage ?? 0;
    await fill(10); // still above: no second warning
    await waitFor('the usage seen again', () => (n.status().server?.queueUsage ?? 0) > before);
    await stuck.query('COMMIT'); // it reads, the queue drains
    await waitFor('the queue drained', () => (n.status().server?.queueUsage ?? 1) < 0.5);
    expect(warnings.length).toBe(1);
    await stuck.query('BEGIN');
    await stuck.query('SELECT 1');
    await fill(40);
    await waitFor('the second crossing', () => warnings.length === 2);
    await stuck.query('COMMIT');
  } finally {
    await stuck.end();
    await priv.admin.query('ALTER SYSTEM RESET max_notify_queue_pages');
  }
});
