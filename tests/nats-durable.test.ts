import { headers, connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { firstValueFrom, take, toArray, type Subscription } from 'rxjs';

import type { DurableMessage } from '../src/index.js';
import { durableConsumerName, durableSubject, HEADER, NatsDurable } from '../src/nats/index.js';
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

  it('publish() without an outbox is a typed error', () => {
    const { durable, channel } = setup();
    expect(() => durable.publish(channel, 'x')).toThrow(expect.objectContaining({ name: 'NoDatabaseError' }) as Error);
  });
});
