// Durable channels through the Notifier API, on the shared PostgreSQL: a schema of this file's own,
// dropped afterwards. Each notifier has an application_name of its own.
import type pg from 'pg';
import type { Subscription } from 'rxjs';

import {
  DurableUnavailableError,
  InvalidArgumentError,
  InvalidChannelError,
  MemorySource,
  Notifier,
  type DurableNotification,
  type NotifierError,
} from '../src/index.js';
import { startChild } from './support/child.js';
import { closer, connectClient, databaseUrl, uniqueChannel, waitFor } from './support/db.js';

jest.setTimeout(60_000);

const schema = uniqueChannel('ndurable');
const notifiers = closer();
const subscriptions: Subscription[] = [];
let admin: pg.Client;

function notifier(app = uniqueChannel('ndurable')): Notifier {
  return notifiers.track(
    new Notifier({ connectionString: databaseUrl(), application_name: app }, { durable: { schema, pollIntervalMs: 100 } }),
  );
}

function errorsOf(n: Notifier): NotifierError[] {
  const errors: NotifierError[] = [];
  subscriptions.push(n.errors$.subscribe((error) => errors.push(error)));
  return errors;
}

beforeAll(async () => {
  admin = await connectClient();
  const n = notifier();
  await n.install();
  await n.close();
});
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await notifiers.closeAll();
});
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

test('publish reaches a durable channel$ observer and a durable subscriber, with id and cursor; a plain observer sees nothing', async () => {
  const app = uniqueChannel('ndurable');
  const n = notifier(app);
  const errors = errorsOf(n);
  const channel = uniqueChannel('orders');
  const observed: DurableNotification[] = [];
  const plain: unknown[] = [];
  subscriptions.push(n.channel$(channel, { durable: true, since: 'earliest' }).subscribe((m) => observed.push(m)));
  subscriptions.push(n.channel$(channel).subscribe((m) => plain.push(m)));
  const called: unknown[][] = [];
  await n.subscribe('mailer', channel, (...args) => void called.push(args), { durable: true });
  const id = await n.publish(channel, { id: 42, text: 'x'.repeat(20_000) }); // over NOTIFY's 8000 bytes
  expect(id).toMatch(/^\d+$/);
  await waitFor('both deliveries', () => observed.length === 1 && called.length === 1);
  expect(observed[0]).toEqual({
    channel,
    payload: { id: 42, text: 'x'.repeat(20_000) },
    pid: expect.any(Number) as unknown,
    id,
    cursor: expect.any(String) as unknown,
  });
  const [subscriberId, ch, payload, pid, message] = called[0] as [unknown, string, unknown, number, { id: string; cursor: string }];
  expect([subscriberId, ch, payload, pid]).toEqual(['mailer', channel, { id: 42, text: 'x'.repeat(20_000) }, observed[0]!.pid]);
  expect(message).toEqual({ id, cursor: expect.any(String) as unknown });
  // The cursor resumes after that message: a second publish is the only one read from it.
  const second = await n.publish(channel, 2);
  const resumed: DurableNotification[] = [];
  subscriptions.push(n.channel$(channel, { durable: true, since: observed[0]!.cursor }).subscribe((m) => resumed.push(m)));
  await waitFor('the resumed reader', () => resumed.length === 1);
  expect(resumed.map((m) => m.id)).toEqual([second]);
  expect(plain).toEqual([]);
  expect(n.subscribers()).toEqual([
    { id: 'mailer', channels: { [channel]: { muted: false, channelMuted: false, active: true, durable: true } } },
  ]);
  // The wake-up channel is LISTENed on the notifier's own connection, and no view shows it.
  expect(n.activeChannels()).toEqual([channel]);
  const { rows } = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
  expect(rows).toHaveLength(1);
  expect(errors).toEqual([]);
});

test('status() shows each durable reader with its position and how far behind it is', async () => {
  const n = notifier();
  const channel = uniqueChannel('lagging');
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  await n.subscribe('slow', channel, () => gate, { durable: true });
  subscriptions.push(n.channel$(channel, { durable: true }).subscribe());
  for (let i = 0; i < 5; i++) await n.publish(channel, i);
  // The subscriber is stuck in its first callback: 5 behind; the observer catches up: 0 behind.
  await waitFor('the lag', () => {
    const readers = n.status().durable?.readers ?? [];
    return readers.some((r) => r.kind === 'subscriber' && r.behind === 5) && readers.some((r) => r.kind === 'observer' && r.behind === 0);
  });
  const readers = n.status().durable!.readers;
  expect(readers.find((r) => r.kind === 'subscriber')).toMatchObject({
    id: 'slow',
    channel,
    cursor: expect.any(String) as unknown,
    delivered: 0,
  });
  release();
  await waitFor('caught up', () => n.status().durable!.readers.every((r) => r.behind === 0));
});

test('close() while status() is measuring the lag: no error and no process warning about it', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.message);
  process.on('warning', onWarning);
  try {
    for (let round = 0; round < 5; round++) {
      const n = notifier();
      const errors = errorsOf(n);
      const channel = uniqueChannel('lagclose');
      const got: unknown[] = [];
      // Three readers: the measurement asks for each in turn, so close() comes between two of them.
      for (let i = 0; i < 3; i++)
        subscriptions.push(n.channel$(channel, { durable: true, since: 'earliest' }).subscribe((m) => got.push(m)));
      await n.publish(channel, round);
      await waitFor('its message', () => got.length === 3 && n.status().durable!.readers.every((r) => r.cursor !== undefined));
      n.status(); // starts a measurement: a query in flight
      await n.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(errors).toEqual([]);
    }
    expect(warnings.filter((w) => w.includes('lag'))).toEqual([]);
  } finally {
    process.off('warning', onWarning);
  }
});

test('a second notifier subscribing the same (id, channel) resumes after the first one stopped: nothing lost, in order', async () => {
  const channel = uniqueChannel('jobs');
  const first = notifier();
  const got: number[] = [];
  await first.subscribe(['worker', 1], channel, (_id, _channel, payload) => void got.push(payload as number), { durable: true });
  for (let i = 0; i < 10; i++) await first.publish(channel, i);
  await waitFor('the first ten', () => got.length === 10);
  await first.close();
  const publisher = notifier();
  for (let i = 10; i < 20; i++) await publisher.publish(channel, i); // while no consumer runs
  const second = notifier();
  await second.subscribe(['worker', 1], channel, (_id, _channel, payload) => void got.push(payload as number), { durable: true });
  await publisher.publish(channel, 20);
  await waitFor('all of them', () => got.length >= 21);
  expect(got).toEqual(Array.from({ length: 21 }, (_, i) => i));
});

test('muting the subscriber or its channel pauses it; unmute delivers what was published meanwhile', async () => {
  const n = notifier();
  const errors = errorsOf(n);
  const channel = uniqueChannel('paused');
  const got: number[] = [];
  await n.subscribe('s', channel, (_id, _channel, payload) => void got.push(payload as number), { durable: true });
  const observed: number[] = [];
  subscriptions.push(n.channel$<number>(channel, { durable: true }).subscribe((m) => observed.push(m.payload)));
  await n.publish(channel, 0);
  await waitFor('the first', () => got.length === 1 && observed.length === 1);
  await n.muteSubscriber('s', channel);
  await n.publish(channel, 1);
  await n.publish(channel, 2);
  await waitFor('the observer has them', () => observed.length === 3); // a later marker: the subscriber had its chance
  expect(got).toEqual([0]);
  await n.unmuteSubscriber('s', channel);
  await waitFor('the subscriber catches up', () => got.length >= 3);
  expect(got).toEqual([0, 1, 2]); // nothing twice: the paused consumer's last store lands before it resumes
  await n.muteChannels(channel);
  await n.publish(channel, 3);
  const marker = uniqueChannel('marker');
  const markers: unknown[] = [];
  subscriptions.push(n.channel$(marker, { durable: true }).subscribe((m) => markers.push(m)));
  await waitFor('the marker reader started', () => n.status().durable!.readers.some((r) => r.channel === marker && r.cursor !== undefined));
  await n.publish(marker, 'after');
  await waitFor('the marker', () => markers.length === 1);
  expect(got).toEqual([0, 1, 2]);
  expect(observed).toEqual([0, 1, 2]);
  await n.unmuteChannels(channel);
  await waitFor('both catch up', () => got.length === 4 && observed.length === 4);
  expect(got).toEqual([0, 1, 2, 3]);
  expect(observed).toEqual([0, 1, 2, 3]);
  expect(errors).toEqual([]);
});

test('unsubscribe keeps the stored position; forget: true deletes it', async () => {
  const channel = uniqueChannel('forget');
  const n = notifier();
  const got: number[] = [];
  const callback = (_id: unknown, _channel: string, payload: unknown): void => void got.push(payload as number);
  await n.subscribe('f', channel, callback, { durable: true });
  const positions = async () =>
    (await admin.query(`SELECT 1 FROM "${schema}".positions WHERE consumer = $1 AND channel = $2`, ['"f"', channel])).rows.length;
  expect(await positions()).toBe(1);
  await n.unsubscribe('f', channel);
  expect(await positions()).toBe(1);
  await n.publish(channel, 1); // kept for it
  await n.subscribe('f', channel, callback, { durable: true });
  await waitFor('the kept message', () => got.length === 1);
  await n.unsubscribe('f', channel, { forget: true });
  expect(await positions()).toBe(0);
  await n.publish(channel, 2); // published while forgotten: a new subscription starts after it
  await n.subscribe('f', channel, callback, { durable: true });
  await n.publish(channel, 3);
  await waitFor('the next one', () => got.length === 2);
  expect(got).toEqual([1, 3]);
});

test('publishMany serialises each payload as publish() does and the observers get them in order; bad input is refused before anything is sent', async () => {
  const n = notifier();
  const channel = uniqueChannel('many');
  const observed: DurableNotification[] = [];
  subscriptions.push(n.channel$(channel, { durable: true, since: 'earliest' }).subscribe((m) => observed.push(m)));
  const memory = notifiers.track(new Notifier(new MemorySource()));
  expect(() => memory.publishMany(channel, [1])).toThrow(DurableUnavailableError);
  expect(() => n.publishMany('pgnotifier:x', [1])).toThrow(InvalidChannelError);
  expect(() => n.publishMany(channel, [1, 2n])).toThrow(InvalidArgumentError);
  expect(() => n.publishMany(channel, 'ab' as never)).toThrow(InvalidArgumentError);
  const ids = await n.publishMany(channel, [{ id: 1, text: 'x'.repeat(9000) }, 'two', 3, undefined]);
  expect(await n.publishMany(channel, [])).toEqual([]);
  await waitFor('the batch', () => observed.length === 4);
  expect(observed.map((m) => m.payload)).toEqual([{ id: 1, text: 'x'.repeat(9000) }, 'two', 3, '']);
  expect(observed.map((m) => m.id)).toEqual(ids);
});

test('bad durable calls are refused with typed errors and change nothing', () => {
  const memory = new Notifier(new MemorySource());
  notifiers.track(memory);
  expect(() => memory.channel$('a', { durable: true })).toThrow(DurableUnavailableError);
  expect(() => memory.publish('a', 1)).toThrow(DurableUnavailableError);
  expect(() => memory.install()).toThrow(DurableUnavailableError);
  expect(() => memory.subscribe('x', 'a', () => undefined, { durable: true })).toThrow(DurableUnavailableError);
  expect(memory.channels()).toEqual({});
  const n = notifier();
  for (const call of [
    () => n.channel$('pgnotifier:x'),
    () => n.channel$('pgnotifier:x', { durable: true }),
    () => n.subscribe('x', 'pgnotifier:x', () => undefined),
    () => n.notify('pgnotifier:x'),
    () => n.publish('pgnotifier:x'),
    () => n.addChannels(['ok', 'pgnotifier:x']),
  ]) {
    expect(call).toThrow(InvalidChannelError);
  }
  expect(() => n.channel$('a', { durable: true, since: 'nope' })).toThrow(/cursor/);
  expect(n.channels()).toEqual({});
});

test('since: a cursor of another channel, or one PostgreSQL would refuse, is refused at once and changes nothing', async () => {
  const n = notifier();
  const [a, b] = [uniqueChannel('since_a'), uniqueChannel('since_b')];
  const onA: DurableNotification[] = [];
  subscriptions.push(n.channel$(a, { durable: true }).subscribe((m) => onA.push(m)));
  await n.synced();
  await n.publish(a, 1);
  await waitFor('a message on a', () => onA.length === 1);
  const before = n.channels();
  const cursor = onA[0]!.cursor;
  expect(() => n.channel$(b, { durable: true, since: cursor })).toThrow(InvalidArgumentError);
  expect(() => n.channel$(b, { durable: true, since: { after: cursor } })).toThrow(/another channel/);
  expect(() => n.channel$(b, { durable: true, since: Buffer.from('v1/50:30:/50:30:/0').toString('base64url') })).toThrow(
    InvalidArgumentError,
  );
  expect(n.channels()).toEqual(before);
  // Its own channel takes it.
  const resumed: unknown[] = [];
  subscriptions.push(n.channel$(a, { durable: true, since: cursor }).subscribe((m) => resumed.push(m.payload)));
  await n.publish(a, 2);
  await waitFor('the next one', () => resumed.length === 1);
  expect(resumed).toEqual([2]);
});

test('a missing durable schema: publish rejects with DurableUnavailableError saying what to do', async () => {
  const missing = uniqueChannel('ndurable_missing');
  const n = notifiers.track(new Notifier(databaseUrl(), { durable: { schema: missing } }));
  // Its background pruning meets the missing schema too: reported here (a process warning without a reader of errors$).
  const errors = errorsOf(n);
  await expect(n.publish('x', 1)).rejects.toThrow(new DurableUnavailableError('publish', { schema: missing }).message);
  expect(errors.every((error) => error instanceof DurableUnavailableError)).toBe(true);
});

test('pgnotifier install creates the schema (two at once: both succeed); bad arguments are a usage error', async () => {
  const own = uniqueChannel('cli_install');
  const env = { ...process.env };
  try {
    const [a, b] = [
      startChild('src/cli/main.ts', ['install', '--url', databaseUrl(), '--schema', own], env),
      startChild('src/cli/main.ts', ['install', `--url=${databaseUrl()}`, `--schema=${own}`], env),
    ];
    expect([await a.exited, await b.exited]).toEqual([0, 0]);
    expect(a.stderr()).toMatch(/installed/);
    const { rows } = await admin.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [
      own,
      'messages',
    ]);
    expect(rows).toHaveLength(1);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${own}" CASCADE`);
  }
  const bad = startChild('src/cli/main.ts', ['install', '--bogus'], env);
  expect(await bad.exited).toBe(2);
  expect(bad.stderr()).toMatch(/unexpected argument "--bogus"/);
});

test('without since, a durable observer gets what this notifier publishes right after it subscribes, and nothing published before', async () => {
  const n = notifier();
  const errors = errorsOf(n);
  const channels = Array.from({ length: 30 }, (_, i) => uniqueChannel(`start${i}`));
  await Promise.all(channels.map((channel) => n.publish(channel, 'before')));
  const got = new Map<string, unknown[]>(channels.map((channel) => [channel, []]));
  // Subscribe and publish in the same tick: the publish must not overtake the observer's start.
  const published = channels.map((channel) => {
    subscriptions.push(n.channel$(channel, { durable: true }).subscribe((m) => got.get(channel)!.push(m.payload)));
    return n.publish(channel, 'after');
  });
  await Promise.all(published);
  await waitFor('every observer', () => channels.every((channel) => got.get(channel)!.length >= 1));
  for (const channel of channels) expect(got.get(channel)).toEqual(['after']);
  expect(errors).toEqual([]);
});

test('without since, a durable observer starts when it subscribes: after synced(), what another connection commits arrives, even while muted', async () => {
  const n = notifier();
  const errors = errorsOf(n);
  await n.start();
  const channels = Array.from({ length: 10 }, (_, i) => uniqueChannel(`since_less${i}`));
  const got = new Map<string, unknown[]>(channels.map((channel) => [channel, []]));
  await n.addChannels(channels[0]!);
  await n.muteChannels(channels[0]); // a muted observer starts at its subscription too, not at unmute
  for (const channel of channels) {
    subscriptions.push(n.channel$(channel, { durable: true }).subscribe((m) => got.get(channel)!.push(m.payload)));
    await n.synced();
    await admin.query(`SELECT "${schema}".publish($1, '"after"')`, [channel]);
  }
  expect(got.get(channels[0]!)).toEqual([]);
  await n.unmuteChannels(channels[0]);
  await waitFor('every observer', () => channels.every((channel) => got.get(channel)!.length >= 1));
  for (const channel of channels) expect(got.get(channel)).toEqual(['after']);
  expect(errors).toEqual([]);
});

test('a durable subscribe whose start cannot be stored rejects and subscribes nothing (no schema yet); after install() it works', async () => {
  const own = uniqueChannel('ndurable_missing');
  const n = notifiers.track(new Notifier({ connectionString: databaseUrl() }, { durable: { schema: own, pollIntervalMs: 100 } }));
  try {
    const channel = uniqueChannel('early');
    const got: unknown[] = [];
    await expect(n.subscribe('w', channel, (_id, _ch, payload) => void got.push(payload), { durable: true })).rejects.toThrow(
      /does not exist|missing/,
    );
    expect(n.status().subscribers).toBe(0);
    await n.install();
    await n.subscribe('w', channel, (_id, _ch, payload) => void got.push(payload), { durable: true });
    await admin.query(`SELECT "${own}".publish($1, '1')`, [channel]);
    await waitFor('the message', () => got.length === 1);
    expect(got).toEqual([1]);
  } finally {
    await n.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${own}" CASCADE`);
  }
});

test('stop() pauses durable readers (positions hold); start() resumes them with what was published meanwhile', async () => {
  const n = notifier();
  const errors = errorsOf(n);
  const channel = uniqueChannel('stopped');
  const got: unknown[] = [];
  const observed: unknown[] = [];
  await n.subscribe('s', channel, (_id, _ch, payload) => void got.push(payload), { durable: true });
  subscriptions.push(n.channel$(channel, { durable: true }).subscribe((m) => observed.push(m.payload)));
  await n.synced();
  await n.publish(channel, 1);
  await waitFor('the first', () => got.length === 1 && observed.length === 1);
  await n.stop();
  await admin.query(`SELECT "${schema}".publish($1, '2')`, [channel]);
  const marker = uniqueChannel('stopped_marker');
  const other = notifier();
  const seen: unknown[] = [];
  subscriptions.push(other.channel$(marker, { durable: true }).subscribe((m) => seen.push(m.payload)));
  await other.synced();
  await other.publish(marker, 'later'); // committed after 2: a reader that was running has had its chance
  await waitFor('the marker', () => seen.length === 1);
  expect(got).toEqual([1]);
  expect(observed).toEqual([1]);
  await n.start();
  await waitFor('both resume', () => got.length === 2 && observed.length === 2);
  expect(got).toEqual([1, 2]);
  expect(observed).toEqual([1, 2]);
  expect(errors).toEqual([]);
});

test('unsubscribe with forget: true right after a durable subscribe deletes the position the subscribe stored', async () => {
  const n = notifier();
  const channels = Array.from({ length: 5 }, (_, i) => uniqueChannel(`forget_now${i}`));
  for (const channel of channels) {
    void n.subscribe('f', channel, () => undefined, { durable: true }).catch(() => undefined);
    await n.unsubscribe('f', channel, { forget: true });
  }
  const { rows } = await admin.query(`SELECT channel FROM "${schema}".positions WHERE channel = ANY($1)`, [channels]);
  expect(rows).toEqual([]);
});

test('status() counters leave out the durable wake-ups: delivered counts the messages delivered, received only plain notifications', async () => {
  const n = notifier();
  const channel = uniqueChannel('counted');
  const got: unknown[] = [];
  subscriptions.push(n.channel$(channel, { durable: true }).subscribe((m) => got.push(m.payload)));
  await n.synced();
  for (let i = 1; i <= 5; i++) await n.publish(channel, i);
  await waitFor('five', () => got.length === 5);
  await new Promise((resolve) => setTimeout(resolve, 300)); // any late wake-up would have arrived
  expect(n.status().counters).toMatchObject({ received: 0, delivered: 5, unrouted: 0 });
});
