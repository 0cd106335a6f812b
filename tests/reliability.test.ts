// Faults injected against a private PostgreSQL started by this file (never the shared service).
import { filter, firstValueFrom } from 'rxjs';

import { Notifier, type ConnectionState, type NotifierError } from '../src/index.js';
import { closer, connectClient, sleep, uniqueChannel, waitFor } from './support/db.js';
import { usePrivatePostgres } from './support/private-postgres.js';
import { freePort, startTcpProxy } from './support/tcp-proxy.js';

jest.setTimeout(120_000);

const notifiers = closer();
const priv = usePrivatePostgres();
afterEach(() => notifiers.closeAll());

async function backendsOf(app: string, client = priv.admin): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
  return rows.map((row) => row.pid);
}

test('pg_terminate_backend 20 times while notifications stream: each time it reconnects, resyncs and hears everything sent after', async () => {
  const app = uniqueChannel('terminated');
  const n = notifiers.track(
    new Notifier({ connectionString: priv.server.url, application_name: app }, { reconnect: { initialDelayMs: 10, maxDelayMs: 200 } }),
  );
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const got: number[] = [];
  n.channel$<number>(a).subscribe((x) => got.push(x.payload));
  await n.subscribe('s', b, () => undefined);
  await n.start();
  let resyncs = 0;
  n.resync$.subscribe(() => resyncs++);

  const sender = await connectClient(priv.server.url);
  let streaming = true;
  let sent = 0;
  const stream = (async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the test body ends it
    while (streaming) {
      await sender.query('SELECT pg_notify($1, $2)', [a, String(-++sent)]);
      await sleep(1);
    }
  })();

  for (let round = 1; round <= 20; round++) {
    const [pid] = await backendsOf(app);
    expect(pid).toBeDefined();
    const resynced = firstValueFrom(n.resync$);
    await priv.admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await resynced;
    expect(resyncs).toBe(round);
    expect(n.activeChannels().sort()).toEqual([a, b].sort());
    expect(await backendsOf(app)).not.toContain(pid);
    // Everything sent after resync$ arrives.
    await sender.query('SELECT pg_notify($1, $2)', [a, String(round)]);
    await waitFor(`marker ${round}`, () => got.includes(round));
  }
  streaming = false;
  await stream;
  await sender.end();
  expect(got.filter((x) => x > 0)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  expect(errors.length).toBeGreaterThanOrEqual(20);
  expect(errors.every((error) => error.name === 'ConnectionError')).toBe(true);
  expect(n.status().counters.connectionErrors).toBe(errors.length);
});

test('the server down for 10 s: the notifier retries throughout and listens again within maxDelayMs of its return', async () => {
  const app = uniqueChannel('outage');
  const maxDelayMs = 2_000;
  const n = notifiers.track(
    new Notifier({ connectionString: priv.server.url, application_name: app }, { reconnect: { initialDelayMs: 50, maxDelayMs } }),
  );
  n.errors$.subscribe();
  const states: ConnectionState[] = [];
  n.state$.subscribe((state) => states.push(state));
  const ch = uniqueChannel('outage');
  const got: unknown[] = [];
  await n.subscribe('s', ch, (_id, _c, payload) => got.push(payload));

  await priv.admin.end();
  await priv.server.stop();
  await sleep(10_000);
  const reconnecting = states.filter((s) => s.status === 'reconnecting');
  expect(reconnecting.length).toBeGreaterThan(5);
  expect(reconnecting.at(-1)?.error).toBeInstanceOf(Error);
  expect(n.isRunning()).toBe(false);
  expect(n.activeChannels()).toEqual([]);

  const resynced = firstValueFrom(n.resync$);
  await priv.server.start();
  const back = Date.now();
  await resynced;
  const took = Date.now() - back;
  process.stdout.write(`listening again ${took} ms after the server returned (maxDelayMs ${maxDelayMs})\n`);
  expect(took).toBeLessThanOrEqual(maxDelayMs + 500);
  expect(n.activeChannels()).toEqual([ch]);
  await priv.reconnectAdmin();
  await priv.admin.query('SELECT pg_notify($1, $2)', [ch, '"after the outage"']);
  await waitFor('delivery after the outage', () => got.length === 1);
});

test('a half-open connection is found within heartbeatIntervalMs + heartbeatTimeoutMs and replaced through a fresh path', async () => {
  const proxy = await startTcpProxy(priv.server.port);
  try {
    const app = uniqueChannel('halfopen');
    const n = notifiers.track(
      new Notifier(
        { host: '127.0.0.1', port: proxy.port, user: 'postgres', password: 'postgres', database: 'postgres', application_name: app },
        { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 300, reconnect: { initialDelayMs: 10, maxDelayMs: 100 } },
      ),
    );
    n.errors$.subscribe();
    const ch = uniqueChannel('halfopen');
    const got: unknown[] = [];
    await n.subscribe('s', ch, (_id, _c, payload) => got.push(payload));
    const [oldPid] = await backendsOf(app);

    const lost = firstValueFrom(n.state$.pipe(filter((s) => s.status === 'reconnecting')));
    const resynced = firstValueFrom(n.resync$);
    const start = Date.now();
    proxy.blackhole();
    const state = await lost;
    const detectedAfter = Date.now() - start;
    process.stdout.write(`half-open connection detected after ${detectedAfter} ms (bound 600 ms)\n`);
    expect(detectedAfter).toBeLessThanOrEqual(600 + 200);
    expect(state.error?.message).toMatch(/heartbeat/);
    await resynced;
    // The server still has the old backend (its socket is held open by the proxy) and a new one.
    await waitFor('a second backend', async () => (await backendsOf(app)).length === 2);
    expect(await backendsOf(app)).toContain(oldPid);
    await priv.admin.query('SELECT pg_notify($1, $2)', [ch, '"through the new path"']);
    await waitFor('delivery on the new connection', () => got.length === 1);
    expect(got).toEqual(['through the new path']);
  } finally {
    await proxy.close();
  }
});

test('close() during an outage cancels everything: no session of ours exists once the server is back', async () => {
  const app = uniqueChannel('zombie');
  const n = new Notifier(
    { connectionString: priv.server.url, application_name: app },
    { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } },
  );
  n.errors$.subscribe();
  await n.subscribe('s', uniqueChannel('zombie'), () => undefined);
  await priv.admin.end();
  await priv.server.stop();
  await waitFor('a few failed attempts', () => n.status().counters.connectionErrors >= 3);
  await n.close();
  expect(n.status().connection.status).toBe('closed');
  await priv.server.start();
  await priv.reconnectAdmin();
  await sleep(1_500); // longer than any backoff it could have had left
  expect(await backendsOf(app)).toEqual([]);
});

test('the first connect is retried too: a server that is not there yet is listened to once it appears', async () => {
  const port = await freePort();
  const n = notifiers.track(
    new Notifier(
      { host: '127.0.0.1', port, user: 'postgres', password: 'postgres', database: 'postgres' },
      { reconnect: { initialDelayMs: 20, maxDelayMs: 200 } },
    ),
  );
  const states: ConnectionState[] = [];
  n.state$.subscribe((state) => states.push(state));
  n.errors$.subscribe();
  const ch = uniqueChannel('late');
  const got: unknown[] = [];
  const subscribed = n.subscribe('s', ch, (_id, _c, payload) => got.push(payload));
  await waitFor('three failed attempts', () => states.filter((s) => s.status === 'connecting' && s.error !== undefined).length >= 3);
  expect(states.map((s) => s.status).filter((s) => s !== 'connecting')).toEqual(['idle']);
  expect(states.at(-1)?.error?.message).toMatch(/Could not connect to PostgreSQL: .*ECONNREFUSED/);
  const proxy = await startTcpProxy(priv.server.port, port);
  try {
    await subscribed;
    expect(n.isRunning()).toBe(true);
    expect(n.activeChannels()).toEqual([ch]);
    await priv.admin.query('SELECT pg_notify($1, $2)', [ch, '1']);
    await waitFor('delivery', () => got.length === 1);
    await n.close();
  } finally {
    await proxy.close();
  }
});
