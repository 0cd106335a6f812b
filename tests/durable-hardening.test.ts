// Durable channels against connections that hang: half-open paths, servers that never answer, and
// close() or forget while handlers are still running. Each test has a schema of its own on the
// shared server (a lock or a frozen path never touches another test's tables).
import { createServer, type Server, type Socket } from 'node:net';

import type pg from 'pg';
import type { Subscription } from 'rxjs';

import { ConnectionError, durableSchemaSql, Notifier, NotifierClosedError, type NotifierError } from '../src/index.js';
import { closer, connectClient, databaseUrl, sleep, uniqueChannel, waitFor } from './support/db.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

jest.setTimeout(120_000);

const notifiers = closer();
const subscriptions: Subscription[] = [];
const schemas: string[] = [];
let admin: pg.Client;
beforeAll(async () => {
  admin = await connectClient();
});
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await notifiers.closeAll();
});
afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

async function newSchema(): Promise<string> {
  const schema = uniqueChannel('durable_hardening');
  schemas.push(schema);
  await admin.query(durableSchemaSql(schema));
  return schema;
}

function publishFrom(client: pg.Client, schema: string, channel: string, payload: string): Promise<unknown> {
  return client.query(`SELECT "${schema}".publish($1, $2)`, [channel, payload]);
}

/** Settles with 'resolved', the rejection's error, or 'pending' when `promise` has not settled within `ms`. */
async function outcome(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved',
        (error: unknown) => error,
      ),
      new Promise((resolve) => {
        timer = setTimeout(() => {
          resolve('pending');
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test('a half-open connection (the path stops carrying bytes, the sockets stay open): durable readers report it on errors$, then recover and deliver what was published meanwhile', async () => {
  const schema = await newSchema();
  const proxy: TcpProxy = await startTcpProxy(Number(new URL(databaseUrl()).port));
  try {
    const url = new URL(databaseUrl());
    url.host = `127.0.0.1:${String(proxy.port)}`;
    const notifier = notifiers.track(
      new Notifier(url.toString(), {
        heartbeatIntervalMs: 1_000,
        heartbeatTimeoutMs: 1_000,
        durable: { schema, pollIntervalMs: 300, queryTimeoutMs: 3_000 },
      }),
    );
    const errors: NotifierError[] = [];
    subscriptions.push(notifier.errors$.subscribe((e) => errors.push(e)));
    const channel = uniqueChannel('halfopen');
    const consumed: string[] = [];
    const observed: string[] = [];
    await notifier.subscribe('w', channel, (_id, _channel, payload: string) => void consumed.push(payload), { durable: true });
    subscriptions.push(notifier.channel$<string>(channel, { durable: true }).subscribe((m) => observed.push(m.payload)));
    await notifier.synced();
    await publishFrom(admin, schema, channel, 'before');
    await waitFor('the message before the freeze', () => consumed.length === 1 && observed.length === 1);

    // Every connection of the notifier through the proxy now hangs; new ones go through.
    proxy.blackhole();
    await publishFrom(admin, schema, channel, 'during');
    await waitFor('the message published on the frozen path', () => consumed.length === 2 && observed.length === 2, 60_000);
    expect(consumed).toEqual(['before', 'during']);
    expect(observed).toEqual(['before', 'during']);
    expect(errors.some((e) => e instanceof ConnectionError && e.message.includes('Reading durable channel'))).toBe(true);
  } finally {
    await notifiers.closeAll();
    await proxy.close();
  }
});

describe('a server that accepts connections and never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let url: string;
  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    url = `postgres://postgres@127.0.0.1:${String(address.port)}/test`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  });

  test('close() settles, and the durable calls under way settle with it', async () => {
    const notifier = new Notifier(url, { durable: { schema: 'whatever', pollIntervalMs: 200 } });
    subscriptions.push(notifier.errors$.subscribe(() => undefined));
    const install = notifier.install();
    const subscribing = notifier.subscribe('w', 'c', () => undefined, { durable: true });
    subscriptions.push(notifier.channel$('c2', { durable: true }).subscribe({ error: () => undefined }));
    const publishing = notifier.publish('c3', 'x');
    for (const p of [install, subscribing, publishing]) p.catch(() => undefined);
    await sleep(1_000);
    expect(await outcome(notifier.close(), 30_000)).toBe('resolved');
    expect(await outcome(install, 1_000)).toBeInstanceOf(NotifierClosedError);
    expect(await outcome(publishing, 1_000)).not.toBe('pending');
    expect(await outcome(subscribing, 1_000)).not.toBe('pending');
  });

  test('install() fails with a ConnectionError after connectTimeoutMs', async () => {
    const notifier = notifiers.track(new Notifier(url, { durable: { schema: 'whatever', connectTimeoutMs: 500, queryTimeoutMs: 500 } }));
    subscriptions.push(notifier.errors$.subscribe(() => undefined));
    const result = await outcome(notifier.install(), 30_000);
    expect(result).toBeInstanceOf(ConnectionError);
  });
});

test('close() while another session holds a lock on the outbox: it settles, and the publish under way is rejected with NotifierClosedError', async () => {
  const schema = await newSchema();
  const notifier = new Notifier(databaseUrl(), { durable: { schema, pollIntervalMs: 200 } });
  subscriptions.push(notifier.errors$.subscribe(() => undefined));
  const channel = uniqueChannel('locked');
  subscriptions.push(notifier.channel$(channel, { durable: true }).subscribe());
  await notifier.synced();
  const locker = await connectClient();
  try {
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${schema}".messages IN ACCESS EXCLUSIVE MODE`);
    const publishing = notifier.publish(channel, 1);
    publishing.catch(() => undefined);
    await sleep(500);
    expect(await outcome(notifier.close(), 30_000)).toBe('resolved');
    expect(await outcome(publishing, 1_000)).toBeInstanceOf(NotifierClosedError);
  } finally {
    await locker.query('ROLLBACK');
    await locker.end();
  }
});

test('close() waits for a durable callback in flight and stores its position: the next subscriber of the pair does not get the message again', async () => {
  const schema = await newSchema();
  const channel = uniqueChannel('inflight');
  const log: string[] = [];
  const first = new Notifier(databaseUrl(), { durable: { schema, pollIntervalMs: 200 } });
  await first.subscribe(
    'w',
    channel,
    async (_id, _channel, payload: string) => {
      log.push(`start ${payload}`);
      await sleep(500);
      log.push(`done ${payload}`);
    },
    { durable: true },
  );
  await first.publish(channel, 'm1');
  await waitFor('the callback started', () => log.includes('start m1'));
  await first.close();
  log.push('closed');
  expect(log).toEqual(['start m1', 'done m1', 'closed']);

  const second = notifiers.track(new Notifier(databaseUrl(), { durable: { schema, pollIntervalMs: 200 } }));
  const got: string[] = [];
  await second.subscribe('w', channel, (_id, _channel, payload: string) => void got.push(payload), { durable: true });
  await second.publish(channel, 'm2');
  await waitFor('m2', () => got.includes('m2'));
  expect(got).toEqual(['m2']);
});

test('unsubscribe with forget settles while the callback hangs; the late store of that callback is skipped, and a new subscription of the same pair, made while it still hangs, stores its own', async () => {
  const schema = await newSchema();
  const notifier = notifiers.track(new Notifier(databaseUrl(), { durable: { schema, pollIntervalMs: 200 } }));
  subscriptions.push(notifier.errors$.subscribe(() => undefined));
  const stored = async (channel: string) => {
    const { rows } = await admin.query<{ last_id: string }>(`SELECT last_id::text FROM "${schema}".positions WHERE channel = $1`, [
      channel,
    ]);
    return rows[0]?.last_id;
  };
  /** A durable subscriber whose callback hangs on its first message, until released. */
  const hang = async (channel: string) => {
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    await notifier.subscribe(
      'w',
      channel,
      async () => {
        started = true;
        await hung;
      },
      { durable: true },
    );
    await notifier.publish(channel, 'm1');
    await waitFor('the callback started', () => started);
    expect(await outcome(notifier.unsubscribe('w', channel, { forget: true }), 10_000)).toBe('resolved');
    expect(await stored(channel)).toBeUndefined();
    return release;
  };

  const forgotten = uniqueChannel('forgotten');
  const release = await hang(forgotten);
  release();
  await sleep(1_000);
  expect(await stored(forgotten)).toBeUndefined();

  const again = uniqueChannel('again');
  const releaseAgain = await hang(again);
  const got: string[] = [];
  expect(
    await outcome(
      notifier.subscribe('w', again, (_id, _channel, payload: string) => void got.push(payload), { durable: true }),
      10_000,
    ),
  ).toBe('resolved');
  await notifier.publish(again, 'm2');
  await waitFor('m2', () => got.includes('m2'));
  await waitFor('the new position stored', async () => ((await stored(again)) ?? '0') !== '0');
  releaseAgain();
  expect(got).toEqual(['m2']);
});

test('a role’s idle_session_timeout does not end the durable sessions: no error while idle, and the readers still deliver', async () => {
  const schema = await newSchema();
  const channel = uniqueChannel('idle');
  // As ALTER ROLE ... SET idle_session_timeout would give every session of the role.
  const notifier = notifiers.track(
    new Notifier(
      { connectionString: databaseUrl(), options: '-c idle_session_timeout=300' },
      { durable: { schema, pollIntervalMs: 1_000 } },
    ),
  );
  const errors: NotifierError[] = [];
  subscriptions.push(notifier.errors$.subscribe((e) => errors.push(e)));
  const got: unknown[] = [];
  await notifier.subscribe('w', channel, (_id, _channel, payload) => void got.push(payload), { durable: true });
  await notifier.publish(channel, 'm1');
  await waitFor('m1', () => got.length === 1);
  // Idle pooled sessions, for several times the timeout.
  await sleep(2_500);
  await notifier.publish(channel, 'm2');
  await waitFor('m2', () => got.length === 2);
  expect(got).toEqual(['m1', 'm2']);
  expect(errors.map((e) => e.message)).toEqual([]);
});
