import type { NatsConnection } from '@nats-io/transport-node';
import { firstValueFrom, filter } from 'rxjs';

import { Notifier, type NotifierError } from '../src/index.js';
import { NatsSource, NoDatabaseError, plainSubject, relay, type Relay, type RelayState } from '../src/nats/index.js';
import { lockClient } from '../src/nats/lock-connection.js';
import { startChild, type Child } from './support/child.js';
import { databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';
import { NATS_URL, natsOrSkip } from './support/nats.js';
import { startTcpProxy } from './support/tcp-proxy.js';

const db = useTestDatabase();
let nc: NatsConnection | undefined;
beforeAll(async () => {
  nc = await natsOrSkip('nats-relay.test.ts');
});
afterAll(async () => {
  await nc?.close();
});

const children: Child[] = [];
const relays: Relay[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

function uniquePrefix(): string {
  return uniqueChannel('t').replace(/_/g, '-');
}

function consumer(prefix: string): { notifier: Notifier; source: NatsSource } {
  const source = new NatsSource({ nats: nc!, subjectPrefix: prefix });
  return { source, notifier: db.track(new Notifier(source)) };
}

function startRelayChild(prefix: string, applicationName: string, channels: string[]): Child {
  const child = startChild('tests/fixtures/relay-child.ts', [prefix, applicationName, JSON.stringify(channels)], {
    ...process.env,
    NATS_URL,
  });
  children.push(child);
  return child;
}

async function relayBackends(applicationName: string): Promise<number> {
  const { rows } = await db.client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
    applicationName,
  ]);
  return rows[0]!.n;
}

describe('relay through NATS', () => {
  it('two relays, 20 consumers: every plain message arrives, a SIGKILLed leader is replaced and resync$ fires; only the relays hold backends', async () => {
    if (nc === undefined) return;
    const prefix = uniquePrefix();
    const channel = uniqueChannel('relay');
    const applicationName = `relay-test-${prefix}`;

    const first = startRelayChild(prefix, applicationName, [channel]);
    await first.waitForOutput('stdout', /role leader/);
    const second = startRelayChild(prefix, applicationName, [channel]);
    await second.waitForOutput('stdout', /role follower/);

    const consumers = Array.from({ length: 20 }, () => consumer(prefix));
    const received = consumers.map(() => [] as unknown[]);
    const resyncs = consumers.map(() => 0);
    consumers.forEach(({ notifier }, i) => {
      notifier.channel$(channel).subscribe((n) => received[i]!.push(n.payload));
      notifier.resync$.subscribe(() => resyncs[i]!++);
    });
    await Promise.all(consumers.map(({ notifier }) => notifier.start()));

    for (let i = 0; i < 50; i++) await pgNotify(db.client, channel, JSON.stringify({ i }));
    const firstBatch = Array.from({ length: 50 }, (_, i) => ({ i }));
    await waitFor('20 consumers to get 50 messages', () => received.every((r) => r.length >= 50));
    for (const r of received) expect(r).toEqual(firstBatch);

    // The leader: a lock connection and a listening one; the follower: a lock connection. None for
    // the 20 consumers, which hold no PostgreSQL connection at all.
    expect(await relayBackends(applicationName)).toBe(3);

    first.kill('SIGKILL');
    await second.waitForOutput('stdout', /role leader/, 15_000);
    await waitFor('resync$ on every consumer', () => resyncs.every((n) => n >= 1), 15_000);
    expect(await first.exited).toBeNull();
    await waitFor('the dead leader to leave pg_stat_activity', async () => (await relayBackends(applicationName)) === 2);

    for (let i = 50; i < 100; i++) await pgNotify(db.client, channel, JSON.stringify({ i }));
    await waitFor('20 consumers to get 50 more', () => received.every((r) => r.length >= 100));
    for (const r of received) expect(r.slice(50)).toEqual(Array.from({ length: 50 }, (_, i) => ({ i: 50 + i })));
    for (const { source } of consumers) expect(source.status().leader?.relay).toMatch(/^child-/);
  });

  it('a relay that gets the lock at its first try goes from starting to leader, never follower; one that waits for it is a follower', async () => {
    if (nc === undefined) return;
    const prefix = uniquePrefix();
    const options = { connection: databaseUrl(), nats: nc, channels: [uniqueChannel('roles')], subjectPrefix: prefix };
    const first = await relay(options);
    relays.push(first);
    const firstRoles: string[] = [];
    first.state$.subscribe((state) => firstRoles.push(state.role));
    await firstValueFrom(first.state$.pipe(filter((state) => state.role === 'leader')));
    expect(firstRoles).not.toContain('follower');
    expect(firstRoles.at(-1)).toBe('leader');

    const second = await relay(options);
    relays.push(second);
    const secondRoles: string[] = [];
    second.state$.subscribe((state) => secondRoles.push(state.role));
    await firstValueFrom(second.state$.pipe(filter((state) => state.role === 'follower')));
    expect(secondRoles).not.toContain('leader');
    expect(first.status().role).toBe('leader');
  });

  it('carries channel names with dots, spaces, *, >, quotes and unicode', async () => {
    if (nc === undefined) return;
    const prefix = uniquePrefix();
    const tag = uniqueChannel('');
    const channels = [`a.b${tag}`, `with space${tag}`, `star*${tag}`, `gt>${tag}`, `"quoted'${tag}`, `ünï😀${tag}`, `a=2Eb${tag}`];
    relays.push(await relay({ connection: databaseUrl(), nats: nc, channels, subjectPrefix: prefix }));
    const { notifier } = consumer(prefix);
    const seen: { channel: string; payload: unknown }[] = [];
    for (const channel of channels) notifier.channel$(channel).subscribe((n) => seen.push({ channel: n.channel, payload: n.payload }));
    await notifier.start();
    await firstValueFrom(relays[0]!.state$.pipe(filter((state) => state.role === 'leader')));
    for (const channel of channels) await pgNotify(db.client, channel, JSON.stringify(channel));
    await waitFor('every channel to arrive', () => seen.length >= channels.length);
    expect(seen).toEqual(channels.map((channel) => ({ channel, payload: channel })));
  });

  it('notify() goes through PostgreSQL with a connection, and is a typed error without one', async () => {
    if (nc === undefined) return;
    const prefix = uniquePrefix();
    const channel = uniqueChannel('send');
    relays.push(await relay({ connection: databaseUrl(), nats: nc, channels: [channel], subjectPrefix: prefix }));
    await firstValueFrom(relays[0]!.state$.pipe(filter((state) => state.role === 'leader')));

    const receiving = db.track(new Notifier(new NatsSource({ nats: nc, subjectPrefix: prefix })));
    const seen: unknown[] = [];
    receiving.channel$(channel).subscribe((n) => seen.push(n.payload));
    await receiving.start();

    const withoutDatabase = db.track(new Notifier(new NatsSource({ nats: nc, subjectPrefix: prefix })));
    expect(() => withoutDatabase.notify(channel, 1)).toThrow(NoDatabaseError);

    const withDatabase = db.track(new Notifier(new NatsSource({ nats: nc, subjectPrefix: prefix, connection: databaseUrl() })));
    await withDatabase.notify(channel, { sent: 'through postgres' });
    await waitFor('the notification to come back through the relay', () => seen.length === 1);
    expect(seen).toEqual([{ sent: 'through postgres' }]);
    expect(relays[0]!.status()).toMatchObject({ role: 'leader', plain: { received: 1, published: 1 } });
  });

  it('refuses bad options with typed errors, and an unreachable NATS server with a ConnectionError', async () => {
    if (nc === undefined) return;
    await expect(relay({ connection: databaseUrl(), nats: nc, channels: [] })).rejects.toThrow(/at least one channel/);
    await expect(relay({ connection: databaseUrl(), nats: nc, channels: ['x'], subjectPrefix: 'a.*' })).rejects.toThrow(/subjectPrefix/);
    await expect(relay({ connection: databaseUrl(), nats: nc, durableChannels: ['x'], outbox: { schema: 'pg_x' } })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
    await expect(
      relay({ connection: databaseUrl(), nats: nc, durableChannels: ['x'], outbox: { pollIntervalMs: -1 } }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    // A PostgreSQL config every connect would fail on (the socket throws on this port).
    await expect(relay({ connection: { port: 70_000 }, nats: nc, channels: ['x'] })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
    // Stream names and limits the server would refuse, refused before anything is sent.
    for (const stream of ['a.b', 'a b', 'x*', ''])
      await expect(relay({ connection: databaseUrl(), nats: nc, durableChannels: ['x'], stream })).rejects.toMatchObject({
        name: 'InvalidArgumentError',
      });
    await expect(
      relay({ connection: databaseUrl(), nats: nc, durableChannels: ['x'], streamLimits: { duplicateWindowMs: -5 } }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(() => new NatsSource({ nats: nc!, stream: 'a.b' })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }) as Error);
    await expect(relay({ connection: databaseUrl(), nats: { servers: 'nats://127.0.0.1:1' }, channels: ['x'] })).rejects.toMatchObject({
      name: 'ConnectionError',
    });
  });

  it('a durable subscribe and synced() waiting for an unreachable NATS settle when the notifier closes', async () => {
    const n = new Notifier(new NatsSource({ servers: 'nats://127.0.0.1:1' }));
    n.errors$.subscribe(() => undefined);
    const subscribed = n.subscribe('z', uniqueChannel('unreachable'), () => undefined, { durable: true });
    const synced = n.synced();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await n.close();
    await expect(subscribed).rejects.toMatchObject({ name: 'NotifierClosedError' });
    await expect(synced).resolves.toBeUndefined();
  });

  it('a leader whose PostgreSQL stops answering steps down within seconds', async () => {
    if (nc === undefined) return;
    const target = new URL(databaseUrl());
    const proxy = await startTcpProxy(Number(target.port || 5432));
    try {
      const via = new URL(databaseUrl());
      via.hostname = '127.0.0.1';
      via.port = String(proxy.port);
      const r = await relay({
        connection: via.toString(),
        nats: nc,
        channels: [uniqueChannel('stepdown')],
        subjectPrefix: uniquePrefix(),
        lock: { checkIntervalMs: 300, checkTimeoutMs: 700 },
      });
      relays.push(r);
      await firstValueFrom(r.state$.pipe(filter((state) => state.role === 'leader')));
      const stepped = firstValueFrom(
        r.state$.pipe(filter((state): state is RelayState & { error: Error } => state.role !== 'leader' && state.error !== undefined)),
      );
      const start = Date.now();
      proxy.blackhole();
      const state = await stepped;
      process.stdout.write(`stepped down ${Date.now() - start} ms after PostgreSQL stopped answering: ${state.error.message}\n`);
      expect(r.status().role).not.toBe('leader');
    } finally {
      await Promise.all(relays.splice(0).map((r) => r.close()));
      await proxy.close();
    }
  });

  it('a new session drops the NATS subscription of a channel given up while the old one ended, and keeps the wanted ones', async () => {
    if (nc === undefined) return;
    const prefix = uniquePrefix();
    const [kept, given] = [uniqueChannel('kept'), uniqueChannel('given')];
    const { notifier, source } = consumer(prefix);
    const seen: unknown[] = [];
    await notifier.subscribe('a', kept, (_id, _channel, payload) => seen.push(payload));
    await notifier.subscribe('a', given, () => undefined);
    expect(source.status().channels).toBe(2);
    // Given up with autorun: false, its UNLISTEN waits; a new session (as after a relay takeover
    // or a NATS reconnect) comes first, and the notifier does not LISTEN it again.
    await notifier.unsubscribe('a', given, { autorun: false });
    // The recycle is reported on errors$: read there (unread, it would become a process warning).
    const errors: NotifierError[] = [];
    notifier.errors$.subscribe((error) => errors.push(error));
    source.recycle(new Error('test: a new session'));
    await notifier.synced();
    expect(source.status().channels).toBe(1);
    nc.publish(plainSubject(prefix, given), '"stale"');
    nc.publish(plainSubject(prefix, kept), '"kept"');
    await waitFor('the kept channel to deliver', () => seen.length === 1);
    expect(seen).toEqual(['kept']);
    expect(source.status().received).toBe(1);
    expect(errors).toEqual([
      expect.objectContaining({ name: 'ConnectionError', message: expect.stringMatching(/test: a new session/) as string }),
    ]);
  });

  it('the lock session asks the server to drop it within seconds of a lost network', async () => {
    const client = lockClient({ connectionString: databaseUrl() }, { checkIntervalMs: 1_000, checkTimeoutMs: 2_000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ idle: string; interval: string; count: string; user_timeout: string }>(
        "SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_keepalives_interval') AS interval, current_setting('tcp_keepalives_count') AS count, current_setting('tcp_user_timeout') AS user_timeout",
      );
      expect(rows[0]).toEqual({ idle: '2', interval: '1', count: '3', user_timeout: '5000' });
    } finally {
      await client.end();
    }
  });
});
