import { bufferCount, filter, firstValueFrom, map, merge, take, toArray } from 'rxjs';

import { Notifier } from '../src/index.js';
import { databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

test('observers share one LISTEN; the last one leaving UNLISTENs unless callbacks remain', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const ch = uniqueChannel('shared');
  const stream = n.channel$(ch);
  expect(n.channels()[ch]).toMatchObject({ active: false, observers: 0 });
  const first: unknown[] = [];
  const second: unknown[] = [];
  const s1 = stream.subscribe((x) => first.push(x.payload));
  const s2 = n.channel$(ch).subscribe((x) => second.push(x.payload));
  await n.start();
  expect(n.channels()[ch]).toMatchObject({ active: true, observers: 2 });
  await pgNotify(db.client, ch, '1');
  await waitFor('both observers', () => first.length === 1 && second.length === 1);

  s1.unsubscribe();
  await n.subscribe('cb', ch, () => undefined);
  s2.unsubscribe();
  await n.start(); // resolves once the server reflects every change so far
  expect(n.channels()[ch]).toMatchObject({ active: true, observers: 0 });
  await n.unsubscribe('cb', ch);
  expect(n.activeChannels()).toEqual([]);
  expect(n.channels()[ch]).toMatchObject({ active: false, observers: 0 });
});

test('channel$ is hot and composes with RxJS operators', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const merged = firstValueFrom(
    merge(n.channel$<{ n: number }>(a), n.channel$<{ n: number }>(b)).pipe(
      filter((x) => x.payload.n % 2 === 0),
      map((x) => `${x.channel === a ? 'a' : 'b'}${x.payload.n}`),
      bufferCount(3),
    ),
  );
  await n.start();
  for (let i = 1; i <= 6; i++) await pgNotify(db.client, i % 2 === 0 ? a : b, JSON.stringify({ n: i }));
  expect(await merged).toEqual(['a2', 'a4', 'a6']);
  // Hot: a late observer hears only what comes after it subscribed.
  const late = firstValueFrom(n.channel$(a).pipe(take(1), toArray()));
  await n.start();
  await pgNotify(db.client, a, '{"n":8}');
  expect((await late).map((x) => x.payload)).toEqual([{ n: 8 }]);
});

test('muting a channel silences observers without completing them; unmuting resumes', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const ch = uniqueChannel('mute');
  const seen: unknown[] = [];
  let completed = false;
  n.channel$(ch).subscribe({ next: (x) => seen.push(x.payload), complete: () => (completed = true) });
  await n.start();
  await pgNotify(db.client, ch, '1');
  await waitFor('the first', () => seen.length === 1);
  await n.muteChannels(ch);
  expect(n.activeChannels()).toEqual([]);
  await pgNotify(db.client, ch, '2');
  // No sleep: '3' comes after '2' on the same connection, so its arrival proves '2' was dropped.
  await n.unmuteChannels(ch);
  await pgNotify(db.client, ch, '3');
  await waitFor('the third', () => seen.length === 2);
  expect(seen).toEqual([1, 3]);
  expect(completed).toBe(false);
  await n.close();
  expect(completed).toBe(true);
});

test('no loss: 5,000 notifications on one channel arrive in order while 300 changes run on other channels', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const main = uniqueChannel('stream');
  const received: number[] = [];
  await n.subscribe('counter', main, (_id, _channel, payload) => {
    received.push(payload as number);
  });
  const observed: number[] = [];
  n.channel$<number>(main).subscribe((x) => observed.push(x.payload));
  await n.start();

  const others = Array.from({ length: 20 }, (_, i) => uniqueChannel(`other${i}`));
  const sending = (async () => {
    for (let i = 0; i < 5000; i += 100) {
      await db.client.query('SELECT pg_notify($1, g::text) FROM generate_series($2::int, $3::int) AS g', [main, i, i + 99]);
    }
  })();
  const changing = (async () => {
    for (let op = 0; op < 300; op++) {
      // Groups of four on one channel: subscribe, mute the channel, unmute it, unsubscribe.
      const group = Math.floor(op / 4);
      const ch = others[group % others.length]!;
      const id = `sub${group}`;
      switch (op % 4) {
        case 0:
          await n.subscribe(id, ch, () => undefined);
          break;
        case 1:
          await n.muteChannels(ch);
          break;
        case 2:
          await n.unmuteChannels(ch);
          break;
        default:
          await n.unsubscribe(id, ch);
      }
    }
  })();
  await Promise.all([sending, changing]);
  await waitFor('5,000 deliveries', () => received.length === 5000 && observed.length === 5000, 30_000);
  const expected = Array.from({ length: 5000 }, (_, i) => i);
  expect(received).toEqual(expected);
  expect(observed).toEqual(expected);
});
