import { Notifier, notifyQuery, PayloadParseError, PayloadTooLargeError, type NotifierError, type NotifierOptions } from '../src/index.js';
import { databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

/** A started notifier with one `channel$` observer that records the payloads it gets. */
async function recordPayloads(name: string, options: NotifierOptions = {}) {
  const n = db.track(new Notifier(databaseUrl(), options));
  const ch = uniqueChannel(name);
  const seen: unknown[] = [];
  n.channel$(ch).subscribe((x) => seen.push(x.payload));
  await n.start();
  return { n, ch, seen };
}

test('the default parser: JSON where it parses, the raw text otherwise; nothing kills the listener', async () => {
  const { ch, seen } = await recordPayloads('payloads');
  const raw = ['', 'hello', 'true', 'null', '42', '"x"', '{"a":1}', '[1,2]', '{"broken', ' 7 ', 'é€'];
  for (const payload of raw) await pgNotify(db.client, ch, payload);
  await waitFor('every payload', () => seen.length === raw.length);
  expect(seen).toEqual(['', 'hello', true, null, 42, 'x', { a: 1 }, [1, 2], '{"broken', 7, 'é€']);
});

test('parse options: raw, a function per channel$, and a throwing parser reported without stopping the flow', async () => {
  const n = db.track(new Notifier(databaseUrl(), { parse: 'raw' }));
  const ch = uniqueChannel('parse');
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  const asRaw: unknown[] = [];
  const strict: unknown[] = [];
  const viaCallback: unknown[] = [];
  n.channel$(ch).subscribe((x) => asRaw.push(x.payload));
  n.channel$<number>(ch, { parse: (text) => JSON.parse(text) as number }).subscribe((x) => strict.push(x.payload));
  await n.subscribe('cb', ch, (_id, _channel, payload) => viaCallback.push(payload));
  await pgNotify(db.client, ch, '1');
  await pgNotify(db.client, ch, 'not json');
  await pgNotify(db.client, ch, '3');
  await waitFor('three raw payloads', () => asRaw.length === 3 && strict.length === 2);
  expect(asRaw).toEqual(['1', 'not json', '3']);
  expect(viaCallback).toEqual(['1', 'not json', '3']);
  expect(strict).toEqual([1, 3]);
  expect(errors).toHaveLength(1);
  const [error] = errors;
  expect(error).toBeInstanceOf(PayloadParseError);
  expect(error).toMatchObject({ name: 'PayloadParseError', channel: ch, raw: 'not json' });
  expect(n.status().counters.parseErrors).toBe(1);
});

test('notify() round-trips every JSON value: the string "42" stays a string', async () => {
  const { n, ch, seen } = await recordPayloads('roundtrip');
  const values = ['42', 42, 'true', true, null, 'null', '', { nested: { list: [1, 'two'] } }, 'é€ "quoted" \\ back'];
  for (const value of values) await n.notify(ch, value);
  await waitFor('every value', () => seen.length === values.length);
  expect(seen).toEqual(values);
});

test('payload limit: 7999 bytes are sent, 8000 are refused before anything is sent, counting UTF-8 bytes', async () => {
  const { n, ch, seen } = await recordPayloads('limit', { parse: 'raw' });
  const fits = 'a'.repeat(7997); // serialised with its two quotes: 7999 bytes
  await n.notify(ch, fits);
  expect(() => n.notify(ch, 'a'.repeat(7998))).toThrow(PayloadTooLargeError);
  expect(() => n.notify(ch, '€'.repeat(2666))).toThrow(PayloadTooLargeError); // 7998 + 2 bytes
  expect(() => notifyQuery(ch, 'a'.repeat(7998))).toThrow(PayloadTooLargeError);
  expect(() => n.notify(ch, 'é'.repeat(4000))).toThrow(
    expect.objectContaining({ name: 'PayloadTooLargeError', channel: ch, bytes: 8002, limit: 7999 }) as Error,
  );
  await n.notify(ch, 'last');
  await waitFor('two payloads', () => seen.length === 2);
  expect(seen).toEqual([JSON.stringify(fits), '"last"']);
});

test('notifyQuery commits with the caller’s transaction, and a rollback sends nothing', async () => {
  const { ch, seen } = await recordPayloads('tx');
  await db.client.query('BEGIN');
  await db.client.query(notifyQuery(ch, { step: 'rolled back' }));
  await db.client.query('ROLLBACK');
  await db.client.query('BEGIN');
  await db.client.query(notifyQuery(ch, { step: 'committed' }));
  expect(seen).toEqual([]);
  await db.client.query('COMMIT');
  await waitFor('the committed one', () => seen.length === 1);
  expect(seen).toEqual([{ step: 'committed' }]);
  expect(notifyQuery('c', '42')).toEqual({ text: 'SELECT pg_notify($1, $2)', values: ['c', '"42"'] });
});

test('a throwing or rejecting callback is reported; the other subscribers still get every notification', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const ch = uniqueChannel('isolation');
  const errors: NotifierError[] = [];
  n.errors$.subscribe((error) => errors.push(error));
  const good: unknown[] = [];
  await n.subscribe('thrower', ch, () => {
    throw new Error('boom');
  });
  await n.subscribe('rejecter', ch, () => Promise.reject(new Error('async boom')));
  await n.subscribe('good', ch, (_id, _channel, payload) => good.push(payload));
  for (let i = 0; i < 3; i++) await pgNotify(db.client, ch, String(i));
  await waitFor('three good deliveries and six errors', () => good.length === 3 && errors.length === 6);
  expect(good).toEqual([0, 1, 2]);
  expect(errors.map((e) => [e.name, (e as { id?: unknown }).id])).toEqual(
    expect.arrayContaining([
      ['SubscriberError', 'thrower'],
      ['SubscriberError', 'rejecter'],
    ]),
  );
  expect(n.status().counters.callbackErrors).toBe(6);
  expect(n.isRunning()).toBe(true);
});
