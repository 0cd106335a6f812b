import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { filter, firstValueFrom, type Subscription } from 'rxjs';

import { Notifier, PgDurableSource, type DurableMessage, type DurableNotification } from '../src/index.js';
import { durableConsumerName, durableSubject, NatsDurable, NatsSource, relay, type Relay } from '../src/nats/index.js';
import { startChild, type Child } from './support/child.js';
import { databaseUrl, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';
import { NATS_URL, natsOrSkip } from './support/nats.js';

// Durable channels end to end: the PostgreSQL outbox, relays (child processes, so a leader can be
// SIGKILLed), JetStream, and consumers on the JetStream side (NatsDurable.consume directly: the
// notifier's `{ durable: true }` wiring has not landed yet).
const db = useTestDatabase();
let nc: NatsConnection | undefined;
beforeAll(async () => {
  nc = await natsOrSkip('nats-outbox.test.ts');
});

const children: Child[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await nc?.close();
});

interface Setup {
  readonly prefix: string;
  readonly stream: string;
  readonly schema: string;
  readonly channel: string;
  readonly outbox: PgDurableSource;
}

/** A prefix, stream and outbox schema of this test's own, dropped afterwards. */
async function setup(): Promise<Setup> {
  const prefix = uniqueChannel('o').replace(/_/g, '-');
  const stream = prefix.toUpperCase();
  const schema = uniqueChannel('outbox');
  const outbox = new PgDurableSource(databaseUrl(), { schema });
  cleanups.push(async () => {
    await outbox.close();
    await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  cleanups.push(async () => {
    const jsm = await jetstreamManager(nc!);
    await jsm.streams.delete(stream);
  });
  await outbox.install();
  return { prefix, stream, schema, outbox, channel: `orders.eu ${schema}` };
}

/** A relay of the durable channel of `made`, in this process, once it leads. */
async function leadingRelay({ prefix, stream, schema, channel }: Setup): Promise<Relay> {
  const r = await relay({
    connection: databaseUrl(),
    nats: nc!,
    durableChannels: [channel],
    subjectPrefix: prefix,
    stream,
    outbox: { schema },
  });
  cleanups.push(() => r.close());
  await firstValueFrom(r.state$.pipe(filter((state) => state.role === 'leader')));
  return r;
}

function startRelayChild({ prefix, stream, schema, channel }: Setup): Child {
  const child = startChild(
    'tests/fixtures/relay-child.ts',
    [prefix, `relay-${prefix}`, '[]', JSON.stringify([channel]), stream, schema],
    { ...process.env, NATS_URL },
    120_000,
  );
  children.push(child);
  return child;
}

async function consumerExists(stream: string, name: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc!);
  return jsm.consumers.info(stream, name).then(
    () => true,
    () => false,
  );
}

describe('durable channels through the relay (outbox → JetStream)', () => {
  it('two relays, 20 consumers, 1,000 messages, the leader SIGKILLed halfway: every consumer gets each message once, in order', async () => {
    if (nc === undefined) return;
    const setting = await setup();
    const { stream, channel, outbox, prefix, schema } = setting;
    // The relays' shared position: the only consumer of this test's own outbox schema.
    const positionQuery = `SELECT since::text, upto::text, last_id::text FROM "${schema}".positions WHERE channel = $1`;
    const relayConsumer = [channel];
    const first = startRelayChild(setting);
    await first.waitForOutput('stdout', /role leader/);
    const second = startRelayChild(setting);
    await second.waitForOutput('stdout', /role follower/);

    const received = Array.from({ length: 20 }, () => [] as DurableMessage[]);
    const running: Subscription[] = [];
    cleanups.push(() => {
      for (const subscription of running) subscription.unsubscribe();
      return Promise.resolve();
    });
    received.forEach((messages, i) => {
      const durable = new NatsDurable({ nats: () => Promise.resolve(nc!), subjectPrefix: prefix, stream });
      running.push(
        durable
          .consume(`consumer ${i}`, channel, (message) => {
            messages.push(message);
            return Promise.resolve();
          })
          .subscribe(),
      );
    });
    for (let i = 0; i < 20; i++) {
      await waitFor(`consumer ${i}`, () => consumerExists(stream, durableConsumerName(`consumer ${i}`, channel)));
    }

    const ids: string[] = [];
    let earlier: { since: string; upto: string; last_id: string } | undefined;
    for (let n = 1; n <= 1_000; n++) {
      ids.push(await outbox.publish(channel, JSON.stringify({ n })));
      if (n === 300) earlier = (await db.client.query<NonNullable<typeof earlier>>(positionQuery, relayConsumer)).rows[0];
      // Halfway, while it is publishing: the relay dies with messages in flight.
      if (n === 500) {
        await waitFor('the leader to publish a first message', () => received[0]!.length > 0, 30_000);
        first.kill('SIGKILL');
      }
    }
    expect(await first.exited).toBeNull();
    await second.waitForOutput('stdout', /role leader/, 30_000);
    // The last message marks the end: the stream keeps order, so any copy comes before it.
    const end = await outbox.publish(channel, 'end');
    await waitFor('every consumer to get the end marker', () => received.every((m) => m.at(-1)?.id === end), 60_000);
    for (const messages of received) {
      expect(messages.map((m) => m.id)).toEqual([...ids, end]);
      expect(messages.slice(0, 3).map((m) => m.payload)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
      expect(messages[0]!.channel).toBe(channel);
    }
    let info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(1_001);

    // A relay resuming from a position well behind what was published (as one would after a crash
    // before its stores reached the database) publishes hundreds of messages again: the stream
    // drops them all by their Nats-Msg-Id, within its duplicate window.
    second.kill('SIGTERM');
    await second.exited;
    expect(earlier).toBeDefined();
    await db.client.query(`UPDATE "${schema}".positions SET since = $2, upto = $3, last_id = $4 WHERE channel = $1`, [
      ...relayConsumer,
      earlier!.since,
      earlier!.upto,
      earlier!.last_id,
    ]);
    const third = startRelayChild(setting);
    await third.waitForOutput('stdout', /role leader/, 30_000);
    const last = await outbox.publish(channel, 'last');
    await waitFor('every consumer to get the last marker', () => received.every((m) => m.at(-1)?.id === last), 60_000);
    for (const messages of received) expect(messages.map((m) => m.id)).toEqual([...ids, end, last]);
    info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(1_002);
  }, 180_000);

  it('a consumer process SIGKILLed mid-stream and restarted with the same id resumes without loss', async () => {
    if (nc === undefined) return;
    const setting = await setup();
    const { stream, channel, outbox, prefix } = setting;
    const r = await leadingRelay(setting);

    const args = [prefix, stream, channel, 'restarted worker'];
    const env = { ...process.env, NATS_URL };
    const first = startChild('tests/fixtures/nats-consumer-child.ts', args, env, 60_000);
    children.push(first);
    await first.waitForOutput('stdout', /^ready$/m);

    const ids: string[] = [];
    for (let n = 1; n <= 200; n++) ids.push(await outbox.publish(channel, String(n)));
    await first.waitForOutput('stdout', /^got \d+ 50$/m, 30_000);
    first.kill('SIGKILL');
    await first.exited;
    // Sent while no consumer process runs: the stream keeps them for the consumer.
    for (let n = 201; n <= 300; n++) ids.push(await outbox.publish(channel, String(n)));

    const second = startChild('tests/fixtures/nats-consumer-child.ts', args, env, 60_000);
    children.push(second);
    await second.waitForOutput('stdout', /^got \d+ 300$/m, 45_000);
    const got = (first.stdout() + second.stdout()).split('\n').flatMap((line) => /^got (\d+) /.exec(line)?.[1] ?? []);
    // At least once: the message being handled when the process died may come again, nothing else.
    const distinct = got.filter((id, i) => got.indexOf(id) === i);
    expect(distinct).toEqual(ids);
    expect(got.length - distinct.length).toBeLessThanOrEqual(1);
    expect(first.stdout()).not.toMatch(/^got \d+ 200$/m);
    expect(r.status().durable).toMatchObject({ taken: 300, published: 300, lag: 0 });
  }, 90_000);

  it('NatsSource.durable: publish() goes through the outbox of its connection (installed by install()), which the relay carries to JetStream', async () => {
    if (nc === undefined) return;
    const made = await setup();
    const { stream, channel, prefix, schema } = made;
    await leadingRelay(made);
    const source = new NatsSource({ nats: nc, subjectPrefix: prefix, stream, connection: databaseUrl(), outbox: { schema } });
    cleanups.push(() => source.dispose());
    await source.durable.install();
    const seen: DurableMessage[] = [];
    const reading = source.durable.read(channel, 'earliest').subscribe((message) => seen.push(message));
    cleanups.push(() => {
      reading.unsubscribe();
      return Promise.resolve();
    });
    const id = await source.durable.publish(channel, '{"via":"outbox"}');
    await waitFor('the message through the relay', () => seen.length === 1);
    expect(seen[0]).toMatchObject({ id, channel, payload: '{"via":"outbox"}' });

    expect(() => new NatsSource({ nats: nc!, outbox: { schema } })).toThrow(
      expect.objectContaining({ name: 'InvalidArgumentError' }) as Error,
    );
    expect(() => new NatsSource({ nats: nc!, connection: databaseUrl(), outbox: { schema: 'pg_bad' } })).toThrow(
      expect.objectContaining({ name: 'InvalidArgumentError' }) as Error,
    );
    expect(() => new NatsSource({ nats: nc! }).durable.publish(channel, 'x')).toThrow(
      expect.objectContaining({ name: 'NoDatabaseError' }) as Error,
    );
  });

  it('new Notifier(new NatsSource(...)): a durable subscriber gets what notifier.publish() stored, through the relay and JetStream', async () => {
    if (nc === undefined) return;
    const made = await setup();
    const { stream, channel, prefix, schema } = made;
    await leadingRelay(made);
    const notifier = new Notifier(
      new NatsSource({ nats: nc, subjectPrefix: prefix, stream, connection: databaseUrl(), outbox: { schema } }),
    );
    cleanups.push(() => notifier.close());
    const got: unknown[] = [];
    // Resolves once its JetStream consumer exists: what is published from now on reaches it.
    await notifier.subscribe('mailer', channel, (_id, _channel, payload) => got.push(payload), { durable: true });
    expect((await (await jetstreamManager(nc)).consumers.list(stream).next()).map((c) => c.config.filter_subject)).toEqual([
      durableSubject(prefix, channel),
    ]);
    const ids = [await notifier.publish(channel, { n: 1 }), await notifier.publish(channel, { n: 2 })];
    await waitFor('both durable messages', () => got.length === 2);
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    expect(ids).toHaveLength(2);
  });

  it('new Notifier(new NatsSource(...)): a durable channel$ observer gets published messages in order; since: <cursor> resumes right after that message', async () => {
    if (nc === undefined) return;
    const made = await setup();
    const { stream, channel, prefix, schema } = made;
    const r = await leadingRelay(made);
    const notifier = new Notifier(
      new NatsSource({ nats: nc, subjectPrefix: prefix, stream, connection: databaseUrl(), outbox: { schema } }),
    );
    cleanups.push(() => notifier.close());
    const before = await notifier.publish(channel, { n: 0 });
    // "Now" is the stream's position: a message is there once the relay carried it.
    await waitFor('the relay to carry the first message', () => r.status().durable.published === 1);
    const observed: DurableNotification[] = [];
    const running: Subscription[] = [];
    cleanups.push(() => {
      for (const subscription of running) subscription.unsubscribe();
      return Promise.resolve();
    });
    running.push(notifier.channel$(channel, { durable: true }).subscribe((n) => observed.push(n)));
    // Its start is known (the stream's position when it subscribed): what is published from now on reaches it.
    await waitFor('the observer started', () =>
      notifier.status().durable!.readers.some((reader) => reader.channel === channel && reader.cursor !== undefined),
    );
    const ids: string[] = [];
    for (let n = 1; n <= 20; n++) ids.push(await notifier.publish(channel, { n }));
    await waitFor('20 durable messages', () => observed.length === 20);
    // Started at new messages: the one published before it subscribed is not among them.
    expect(observed.map((n) => n.payload)).toEqual(Array.from({ length: 20 }, (_, i) => ({ n: i + 1 })));
    expect(observed.map((n) => n.id)).toEqual(ids);
    expect(ids).not.toContain(before);
    expect(observed.every((n) => n.channel === channel && n.pid > 0)).toBe(true);

    // Resuming right after the 5th: the 6th to the 20th, then what comes next.
    const resumed: DurableNotification[] = [];
    running.push(notifier.channel$(channel, { durable: true, since: observed[4]!.cursor }).subscribe((n) => resumed.push(n)));
    await waitFor('15 resumed messages', () => resumed.length === 15);
    const last = await notifier.publish(channel, { n: 21 });
    await waitFor('the next one', () => resumed.length === 16 && observed.length === 21);
    expect(resumed.map((n) => n.id)).toEqual([...ids.slice(5), last]);
    expect(resumed.map((n) => n.cursor)).toEqual(observed.slice(5).map((n) => n.cursor));

    // From the earliest retained: the one published before the first observer, too.
    const everything: DurableNotification[] = [];
    running.push(notifier.channel$(channel, { durable: true, since: 'earliest' }).subscribe((n) => everything.push(n)));
    await waitFor('22 messages from the earliest', () => everything.length === 22);
    expect(everything.map((n) => n.id)).toEqual([before, ...ids, last]);
    // Cursors of this source are JetStream stream sequences; anything else is refused at once.
    expect(() => notifier.channel$(channel, { durable: true, since: 'nope' })).toThrow(
      expect.objectContaining({ name: 'InvalidArgumentError' }) as Error,
    );
  });
});
