import { Notifier, type ConnectionState } from '../src/index.js';
import { databaseUrl, pgNotify, sleep, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

async function sessionsNamed(name: string): Promise<number> {
  const { rows } = await db.client.query<{ count: string }>('SELECT count(*) FROM pg_stat_activity WHERE application_name = $1', [name]);
  return Number(rows[0]?.count);
}

test('idle until the first change that needs the server; stop keeps the registry; start applies what changed meanwhile', async () => {
  const app = uniqueChannel('app');
  const n = db.track(new Notifier({ connectionString: databaseUrl(), application_name: app }));
  const states: ConnectionState['status'][] = [];
  n.state$.subscribe((s) => states.push(s.status));
  const ch = uniqueChannel('life');
  await n.addChannels(ch);
  expect(n.isRunning()).toBe(false);
  expect(await sessionsNamed(app)).toBe(0);

  const seen: unknown[] = [];
  await n.subscribe('s', ch, (_id, _c, payload) => seen.push(payload));
  expect(n.isRunning()).toBe(true);
  expect(await sessionsNamed(app)).toBe(1);

  await n.stop();
  expect(n.isRunning()).toBe(false);
  expect(n.activeChannels()).toEqual([]);
  expect(n.status()).toMatchObject({ running: false, connection: { status: 'stopped' }, channels: 1, subscriptions: 1 });
  await waitFor('the session to end', async () => (await sessionsNamed(app)) === 0);

  // Changes while stopped are kept, autorun or not, and nothing reconnects by itself.
  const other = uniqueChannel('later');
  await n.subscribe('s', other, (_id, _c, payload) => seen.push(payload));
  await sleep(50);
  expect(await sessionsNamed(app)).toBe(0);

  await n.start();
  expect(n.activeChannels().sort()).toEqual([ch, other].sort());
  await pgNotify(db.client, other, '"back"');
  await waitFor('delivery after start', () => seen.length === 1);
  expect(states).toEqual(['idle', 'connecting', 'connected', 'stopped', 'connecting', 'connected']);
});

test('restart() always reconnects, even when nothing changed', async () => {
  const app = uniqueChannel('app');
  const n = db.track(new Notifier({ connectionString: databaseUrl(), application_name: app }));
  const ch = uniqueChannel('restart');
  await n.subscribe('s', ch, () => undefined);
  const pid = async () =>
    (await db.client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0]?.pid;
  const before = await pid();
  await n.restart();
  await waitFor('one session', async () => (await sessionsNamed(app)) === 1);
  expect(await pid()).not.toBe(before);
  expect(n.activeChannels()).toEqual([ch]);
});

test('status() reports counts and counters as JSON', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const ch = uniqueChannel('status');
  n.channel$(ch).subscribe();
  await n.subscribe(['a', 1], ch, () => undefined);
  await n.subscribe('b', ch, () => undefined);
  await n.muteSubscriber('b');
  await pgNotify(db.client, ch, '1');
  await waitFor('delivery', () => n.status().counters.received === 1);
  const status = n.status();
  expect(JSON.parse(JSON.stringify(status))).toEqual({
    running: true,
    connection: { status: 'connected' },
    channels: 1,
    activeChannels: [ch],
    mutedChannels: [],
    subscribers: 2,
    subscriptions: 2,
    observers: 1,
    counters: { received: 1, delivered: 2, unrouted: 0, parseErrors: 0, callbackErrors: 0, connectionErrors: 0 },
    server: { pid: expect.any(Number) as number },
  });
});
