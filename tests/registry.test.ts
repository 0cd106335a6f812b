import {
  InvalidArgumentError,
  InvalidChannelError,
  Notifier,
  NotifierClosedError,
  UnknownChannelError,
  UnknownSubscriberError,
  type SubscriberId,
} from '../src/index.js';
import { databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

function recorder() {
  const calls: { id: SubscriberId; channel: string; payload: unknown }[] = [];
  const fn = (tag: string) => (id: SubscriberId, channel: string, payload: unknown) => {
    calls.push({ id: [tag, id], channel, payload });
  };
  return { calls, fn };
}

test('an id keeps one callback per channel; re-subscribing the same pair replaces it and keeps its mute flag', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const { calls, fn } = recorder();
  await n.subscribe('x', a, fn('fa'));
  await n.subscribe('x', b, fn('fb'));
  await pgNotify(db.client, a, '1');
  await pgNotify(db.client, b, '2');
  await waitFor('two calls', () => calls.length === 2);
  expect(calls).toEqual([
    { id: ['fa', 'x'], channel: a, payload: 1 },
    { id: ['fb', 'x'], channel: b, payload: 2 },
  ]);

  await n.muteSubscriber('x', a);
  await n.subscribe('x', a, fn('fa2'));
  expect(n.mutedSubscribers(a)).toEqual({ [a]: ['x'] });
  await n.unmuteSubscriber('x', a);
  calls.length = 0;
  await pgNotify(db.client, a, '3');
  await waitFor('one call', () => calls.length === 1);
  expect(calls).toEqual([{ id: ['fa2', 'x'], channel: a, payload: 3 }]);
});

test('array ids compare by value and are returned as copies', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const ch = uniqueChannel('tuple');
  const id: (string | number)[] = [2, 'another_id'];
  const { calls, fn } = recorder();
  await n.subscribe(id, ch, fn('t'));
  id.push('mutated after subscribing');
  await n.subscribe([1, '1'], ch, fn('u'));
  expect(n.subscribers().map((s) => s.id)).toEqual([
    [2, 'another_id'],
    [1, '1'],
  ]);
  await n.muteSubscriber([2, 'another_id'], ch);
  expect(n.mutedSubscribers()).toEqual({ [ch]: [[2, 'another_id']] });
  expect(n.nonMutedSubscribers()).toEqual({ [ch]: [[1, '1']] });
  await pgNotify(db.client, ch, '"hi"');
  await waitFor('one call', () => calls.length === 1);
  expect(calls).toEqual([{ id: ['u', [1, '1']], channel: ch, payload: 'hi' }]);
  // 1 and '1' are different ids.
  expect(() => n.unsubscribe([1, 1], ch)).toThrow(UnknownSubscriberError);
});

test('unsubscribe removes one pair only, or all pairs of the id without a channel', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const { calls, fn } = recorder();
  await n.subscribe('x', a, fn('x'));
  await n.subscribe('x', b, fn('x'));
  await n.subscribe('y', b, fn('y'));
  await n.unsubscribe('x', a);
  expect(n.activeChannels()).toEqual([b]);
  expect(n.channels()[a]).toMatchObject({ active: false, subscribers: [] });
  await pgNotify(db.client, a, '1');
  await pgNotify(db.client, b, '2');
  // The NOTIFY on a went first: had it been delivered, it would be among these two.
  await waitFor('two calls', () => calls.length === 2);
  expect(calls).toEqual([
    { id: ['x', 'x'], channel: b, payload: 2 },
    { id: ['y', 'y'], channel: b, payload: 2 },
  ]);
  await n.unsubscribe('x');
  expect(n.subscribers().map((s) => s.id)).toEqual(['y']);
  expect(() => n.unsubscribe('x')).toThrow(UnknownSubscriberError);
});

test('mute rules: channel mute overrides subscriber mute, keeps their flags, and drives LISTEN', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const [a, b, c] = [uniqueChannel('a'), uniqueChannel('b'), uniqueChannel('c')];
  const { calls, fn } = recorder();
  await n.subscribe('s1', a, fn('s1'));
  await n.subscribe('s2', a, fn('s2'));
  await n.subscribe('s1', b, fn('s1'));
  await n.addChannels(c);

  await n.muteSubscriber('s2', a);
  await n.muteChannels(a);
  expect(n.mutedChannels()).toEqual([a]);
  expect(n.nonMutedChannels([b, c])).toEqual([b, c]);
  expect(n.activeChannels()).toEqual([b]);
  expect(n.subscribers()).toEqual([
    {
      id: 's1',
      channels: { [a]: { muted: false, channelMuted: true, active: false }, [b]: { muted: false, channelMuted: false, active: true } },
    },
    { id: 's2', channels: { [a]: { muted: true, channelMuted: true, active: false } } },
  ]);
  await pgNotify(db.client, a, '"while muted"');

  await n.unmuteChannels(a);
  expect(n.mutedSubscribers(a)).toEqual({ [a]: ['s2'] });
  await pgNotify(db.client, a, '"after unmute"');
  // "while muted" went first on the same channel: the later one arriving proves it was dropped.
  await waitFor('one call', () => calls.length === 1);
  expect(calls).toEqual([{ id: ['s1', 's1'], channel: a, payload: 'after unmute' }]);

  // No argument: every channel of the id. The channel has no other consumer, so it goes quiet.
  await n.muteSubscriber('s1');
  expect(n.nonMutedSubscribers()).toEqual({ [a]: [], [b]: [], [c]: [] });
  expect(n.activeChannels()).toEqual([]);
  await n.unmuteSubscriber('s1', [b]);
  expect(n.activeChannels()).toEqual([b]);

  // An empty list means none, not all.
  await n.muteChannels([]);
  expect(n.mutedChannels()).toEqual([]);
  await n.muteChannels();
  expect(n.mutedChannels()).toEqual([a, b, c]);
  await n.unmuteChannels();
  expect(n.mutedChannels()).toEqual([]);
});

test('bad input throws a typed error synchronously and leaves the state exactly as it was', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const ch = uniqueChannel('state');
  await n.subscribe('s', ch, () => undefined);
  const before = JSON.stringify([n.channels(), n.subscribers(), n.activeChannels()]);

  expect(() => n.muteChannels([ch, 'ghost'])).toThrow(UnknownChannelError);
  expect(() => n.unmuteChannels('ghost')).toThrow(UnknownChannelError);
  expect(() => n.muteSubscriber('ghost')).toThrow(UnknownSubscriberError);
  expect(() => n.muteSubscriber('s', [ch, 'ghost'])).toThrow(UnknownChannelError);
  expect(() => n.unmuteSubscriber('s', 'ghost')).toThrow(UnknownChannelError);
  expect(() => n.unsubscribe('s', 'ghost')).toThrow(UnknownChannelError);
  expect(() => n.unsubscribe('ghost', ch)).toThrow(UnknownSubscriberError);
  expect(() => n.subscribe({} as unknown as SubscriberId, ch, () => undefined)).toThrow(InvalidArgumentError);
  expect(() => n.subscribe(Number.NaN, ch, () => undefined)).toThrow(InvalidArgumentError);
  expect(() => n.subscribe('s', ch, 'not a function' as unknown as () => void)).toThrow(InvalidArgumentError);
  expect(() => n.subscribe('s', '', () => undefined)).toThrow(InvalidChannelError);
  expect(() => n.addChannels(['fine', 'x'.repeat(64)])).toThrow(InvalidChannelError);
  // The same mistake gets the same class from every method (issue 10, item 15).
  for (const notAName of [42, null, new String('abc'), Object.create(null) as unknown, Symbol('s')]) {
    const name = notAName as string;
    expect(() => n.addChannels(name)).toThrow(InvalidChannelError);
    expect(() => n.muteChannels(name)).toThrow(InvalidChannelError);
    expect(() => n.removeChannels(name)).toThrow(InvalidChannelError);
    expect(() => n.subscribe('s', name, () => undefined)).toThrow(InvalidChannelError);
    expect(() => n.channel$(name)).toThrow(InvalidChannelError);
    expect(() => n.notify(name)).toThrow(InvalidChannelError);
  }
  expect(() => n.addChannels(['\uD800x'])).toThrow(InvalidChannelError);
  expect(() => n.subscribe('s', 'lone\uDC00', () => undefined)).toThrow(InvalidChannelError);
  expect(() => n.subscribe('s', ch, () => undefined, null as unknown as undefined)).toThrow(InvalidArgumentError);
  expect(() => n.unsubscribe('s', ch, null as unknown as undefined)).toThrow(InvalidArgumentError);
  expect(() => n.channel$(ch, null as unknown as undefined)).toThrow(InvalidArgumentError);
  expect(() => n.subscribe('s', ch, () => undefined, { autorun: 'yes' as unknown as boolean })).toThrow(InvalidArgumentError);
  expect(() => n.mutedChannels('ghost')).toThrow(UnknownChannelError);

  expect(JSON.stringify([n.channels(), n.subscribers(), n.activeChannels()])).toBe(before);
  expect(n.channels().fine).toBeUndefined();
});

test('removeChannels removes subscribers, completes observers, UNLISTENs; unknown channels are ignored', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const { calls, fn } = recorder();
  let completed = false;
  n.channel$(a).subscribe({ complete: () => (completed = true) });
  await n.subscribe('s', a, fn('s'));
  await n.subscribe('s', b, fn('s'));
  await n.removeChannels([a, 'never-registered']);
  expect(completed).toBe(true);
  expect(Object.keys(n.channels())).toEqual([b]);
  expect(n.subscribers()).toEqual([{ id: 's', channels: { [b]: { muted: false, channelMuted: false, active: true } } }]);
  expect(n.activeChannels()).toEqual([b]);
  await pgNotify(db.client, a, '1');
  await pgNotify(db.client, b, '2');
  await waitFor('one call', () => calls.length === 1);
  expect(calls).toEqual([{ id: ['s', 's'], channel: b, payload: 2 }]);
});

test('autorun: false changes the registry at once and the server at the next start', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const { calls, fn } = recorder();
  await n.subscribe('s', a, fn('s'));
  await n.subscribe('s', b, fn('s'), { autorun: false });
  expect(n.channels()[b]).toMatchObject({ active: false, subscribers: [{ id: 's', muted: false }] });
  expect(n.activeChannels()).toEqual([a]);

  await n.removeChannels(a, { autorun: false });
  // Still LISTENed on the server until the restart; its notifications reach no one.
  expect(n.activeChannels()).toEqual([a]);
  await pgNotify(db.client, a, '1');
  await waitFor('the notification to arrive unrouted', () => n.status().counters.unrouted === 1);

  await n.restart();
  expect(n.activeChannels()).toEqual([b]);
  await pgNotify(db.client, b, '2');
  await waitFor('one call', () => calls.length === 1);
  expect(calls).toEqual([{ id: ['s', 's'], channel: b, payload: 2 }]);
});

test('await subscribe, then NOTIFY from another connection: always delivered', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  let received = 0;
  for (let i = 0; i < 25; i++) {
    const ch = uniqueChannel(`race${i}`);
    await n.subscribe(i, ch, () => received++);
    await pgNotify(db.client, ch, String(i));
  }
  await waitFor('25 deliveries', () => received === 25);
});

test('after close() every method but close() throws NotifierClosedError, and close() is harmless again', async () => {
  const n = new Notifier(databaseUrl());
  await n.subscribe('s', uniqueChannel('c'), () => undefined);
  await n.close();
  await n.close();
  expect(() => n.subscribe('s', 'c', () => undefined)).toThrow(NotifierClosedError);
  expect(() => n.channel$('c')).toThrow(NotifierClosedError);
  expect(() => n.start()).toThrow(NotifierClosedError);
  expect(() => n.notify('c', 1)).toThrow(NotifierClosedError);
  expect(n.isRunning()).toBe(false);
  expect(n.status().connection.status).toBe('closed');
});
