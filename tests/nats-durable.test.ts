import { headers, connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { firstValueFrom, take, toArray, type Subscription } from 'rxjs';

import { Notifier, type DurableMessage, type DurableNotification } from '../src/index.js';
import { durableConsumerName, durableSubject, HEADER, NatsDurable, NatsSource } from '../src/nats/index.js';
import { uniqueChannel, waitFor } from './support/db.js';
import { NATS_URL, natsOrSkip } from './support/nats.js';

// The JetStream side of durable channels alone: messages are put into the stream here as the
// relay does (Nats-Msg-Id, headers); the PostgreSQL outbox end comes with the outbox itself.
let nc: NatsConnection | undefined;
const streams: string[] = [];
const opened: NatsConnection[] = [];
beforeAll(async () => {
  nc = await natsOrSkip('nats-durable.test.ts');
});
afterAll(async () => {
  if (nc !== undefined) {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  }
  await Promise.all(opened.map((c) => c.close()));
  await nc?.close();
});

function setup(ackWaitMs?: number): { durable: NatsDurable; prefix: string; stream: string; channel: string } {
  const prefix = uniqueChannel('d').replace(/_/g, '-');
  const stream = prefix.toUpperCase();
  streams.push(stream);
  const connection = nc!;
  return {
    durable: new NatsDurable({
      nats: () => Promise.resolve(connection),
      subjectPrefix: prefix,
      stream,
      ...(ackWaitMs === undefined ? {} : { ackWaitMs }),
    }),
    prefix,
    stream,
    channel: `orders.eu ${prefix}`,
  };
}

/** Publishes as the relay does: msgID `<system>:<db>:<schema>:<id>`, the id in a header. */
async function put(prefix: string, channel: string, ids: number[]): Promise<{ duplicates: number }> {
  const js = jetstream(nc!);
  let duplicates = 0;
  for (const id of ids) {
    const h = headers();
    h.set(HEADER.channel, encodeURIComponent(channel));
    h.set(HEADER.pid, '42');
    h.set(HEADER.id, String(id));
    const ack = await js.publish(durableSubject(prefix, channel), JSON.stringify({ id }), { msgID: `sys:1:pgnotifier:${id}`, headers: h });
    if (ack.duplicate) duplicates++;
  }
  return { duplicates };
}

async function consumerExists(stream: string, name: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc!);
  return jsm.consumers.info(stream, name).then(
    () => true,
    () => false,
  );
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('NatsDurable (JetStream)', () => {
  it('creates the stream; the duplicate window drops a second publish of the same message id', async () => {
    if (nc === undefined) return;
    const { durable, prefix, stream, channel } = setup();
    await Promise.all([durable.install(), durable.install()]);
    expect((await put(prefix, channel, range(1, 10))).duplicates).toBe(0);
    expect((await put(prefix, channel, range(1, 10))).duplicates).toBe(10);
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(10);
    expect(info.config.subjects).toEqual([`${prefix}.d.>`]);
    expect(info.config.duplicate_window).toBe(120_000 * 1e6);
    const all = await firstValueFrom(durable.read(channel, 'earliest').pipe(take(10), toArray()));
    expect(all.map((m) => [m.id, m.channel, m.pid, m.payload])).toEqual(
      range(1, 10).map((id) => [String(id), channel, 42, JSON.stringify({ id })]),
    );
    const after = await firstValueFrom(durable.read(channel, { after: all[6]!.cursor }).pipe(take(3), toArray()));
    expect(after.map((m) => m.id)).toEqual(['8', '9', '10']);
  });

  it('a consumer restarted with the same id (another process, another connection) resumes without loss, in order; forget deletes it', async () => {
    if (nc === undefined) return;
    const { durable, prefix, stream, channel } = setup();
    await durable.install();
    const handled: string[] = [];
    const handle = (message: DurableMessage): Promise<void> => {
      handled.push(message.id);
      return Promise.resolve();
    };
    let running: Subscription = durable.consume('worker', channel, handle).subscribe();
    const name = durableConsumerName('worker', channel);
    await waitFor('the durable consumer', () => consumerExists(stream, name));
    await put(prefix, channel, range(1, 10));
    await waitFor('10 handled', () => handled.length >= 10);
    running.unsubscribe();

    // Sent while no process consumes: kept by the stream for the consumer.
    await put(prefix, channel, range(11, 20));
    const other = await connect({ servers: NATS_URL });
    opened.push(other);
    const restarted = new NatsDurable({ nats: () => Promise.resolve(other), subjectPrefix: prefix, stream });
    running = restarted.consume('worker', channel, handle).subscribe();
    await waitFor('20 handled', () => handled.length >= 20);
    running.unsubscribe();
    expect(handled).toEqual(range(1, 20).map(String));

    await restarted.forget('worker', channel);
    expect(await consumerExists(stream, name)).toBe(false);
    await restarted.forget('worker', channel); // forgetting twice is harmless
  });

  it('keeps a slow handler’s message with progress acks: a second process sharing the id gets no copy meanwhile', async () => {
    if (nc === undefined) return;
    const { durable, prefix, stream, channel } = setup(600);
    await durable.install();
    const other = await connect({ servers: NATS_URL });
    opened.push(other);
    const sharing = new NatsDurable({ nats: () => Promise.resolve(other), subjectPrefix: prefix, stream, ackWaitMs: 600 });
    const calls: string[] = [];
    const handle = async (message: DurableMessage): Promise<void> => {
      calls.push(message.id);
      if (message.id === '1') await new Promise((resolve) => setTimeout(resolve, 2_500));
    };
    const first = durable.consume('slow', channel, handle).subscribe();
    await waitFor('the durable consumer', () => consumerExists(stream, durableConsumerName('slow', channel)));
    const second = sharing.consume('slow', channel, handle).subscribe();
    await put(prefix, channel, [1, 2]);
    await waitFor('both handled', () => calls.includes('2'));
    first.unsubscribe();
    second.unsubscribe();
    // Two processes under one id split the messages: each is handled once, in order.
    expect(calls).toEqual(['1', '2']);
  });

  it('behind() counts the channel’s messages after a cursor, not other channels’ and not the stream’s sequence gap; leaves no consumer', async () => {
    if (nc === undefined) return;
    const { durable, prefix, stream, channel } = setup();
    const other = `${channel} other`;
    // No stream yet: nothing is behind.
    await expect(durable.behind(channel, '0')).resolves.toBe(0);
    await durable.install();
    // Interleaved with another channel's messages (ids unique: the duplicate window is per id).
    await put(prefix, channel, range(1, 5));
    await put(prefix, other, range(101, 103));
    await put(prefix, channel, range(6, 10));
    const mine = await firstValueFrom(durable.read(channel, 'earliest').pipe(take(10), toArray()));
    const jsm = await jetstreamManager(nc);
    const consumers = async (): Promise<string[]> => (await jsm.consumers.list(stream).next()).map((c) => c.name).sort();
    // The reader's ordered consumer may outlive it for a while: what counts is that behind() adds none.
    const before = await consumers();
    expect(await durable.behind(channel, '0')).toBe(10);
    expect(await durable.behind(other, '0')).toBe(3);
    // After the 3rd: the 4th to the 10th, though the stream holds 15 messages past it.
    expect(await durable.behind(channel, mine[2]!.cursor)).toBe(7);
    expect(await durable.behind(channel, mine[4]!.cursor)).toBe(5);
    expect(await durable.behind(other, mine[4]!.cursor)).toBe(3);
    expect(await durable.behind(channel, mine[9]!.cursor)).toBe(0);
    expect(await durable.behind(channel, '999999')).toBe(0);
    await expect(durable.behind(channel, 'nope')).rejects.toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }) as Error);
    // The counting consumers are deleted once they answered.
    expect(await consumers()).toEqual(before);
  });

  it('status() of a Notifier over NATS shows a durable subscriber N−k behind after k of N, and 0 once caught up', async () => {
    if (nc === undefined) return;
    const { durable, prefix, stream, channel } = setup();
    await durable.install();
    const notifier = new Notifier(new NatsSource({ nats: nc, subjectPrefix: prefix, stream }));
    const observed: DurableNotification[] = [];
    const observing = notifier.channel$(channel, { durable: true, since: 'earliest' }).subscribe((n) => observed.push(n));
    try {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const handled: unknown[] = [];
      // Handles 4, then is stuck in its 5th callback until released.
      await notifier.subscribe(
        'slow',
        channel,
        (_id, _channel, payload) => {
          handled.push(payload);
          return handled.length > 4 ? gate : undefined;
        },
        { durable: true },
      );
      await put(prefix, channel, range(1, 5));
      await put(prefix, `${channel} other`, range(101, 110));
      await put(prefix, channel, range(6, 10));
      const reader = (kind: 'subscriber' | 'observer') => notifier.status().durable?.readers.find((r) => r.kind === kind);
      await waitFor(
        'the subscriber 6 behind, the observer 0',
        () => reader('subscriber')?.behind === 6 && reader('observer')?.behind === 0,
      );
      expect(reader('subscriber')).toMatchObject({ id: 'slow', channel, delivered: 4 });
      expect(observed).toHaveLength(10);
      release();
      await waitFor('the subscriber caught up', () => handled.length === 10 && reader('subscriber')?.behind === 0);
      expect(reader('subscriber')?.delivered).toBe(10);
    } finally {
      observing.unsubscribe();
      await notifier.close();
    }
  });

  it('publish() without an outbox is a typed error', () => {
    const { durable, channel } = setup();
    expect(() => durable.publish(channel, 'x')).toThrow(expect.objectContaining({ name: 'NoDatabaseError' }) as Error);
  });
});
