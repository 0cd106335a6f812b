// Durable channels on the shared PostgreSQL: a schema of this file's own, dropped afterwards.
import type pg from 'pg';
import type { Subscription } from 'rxjs';

import {
  durableSchemaSql,
  InvalidArgumentError,
  InvalidChannelError,
  PgDurableSource,
  publishQuery,
  ReplayGapError,
  type DurableMessage,
  type NotifierError,
} from '../src/index.js';
import { connectClient, databaseUrl, uniqueChannel, waitFor } from './support/db.js';

jest.setTimeout(60_000);

const schema = uniqueChannel('durable');
let admin: pg.Client;
const sources: PgDurableSource[] = [];
const subscriptions: Subscription[] = [];
/** Schemas a test made for itself, dropped after it even when it fails. */
const ownSchemas: string[] = [];

function source(options: ConstructorParameters<typeof PgDurableSource>[1] = {}): PgDurableSource {
  const s = new PgDurableSource(databaseUrl(), { schema, pollIntervalMs: 100, ...options });
  sources.push(s);
  return s;
}

function collect(s: PgDurableSource): { errors: NotifierError[] } {
  const errors: NotifierError[] = [];
  subscriptions.push(s.errors$.subscribe((error) => errors.push(error)));
  return { errors };
}

/** Reads `channel` from now into a list of payloads. */
async function reader(s: PgDurableSource, channel: string): Promise<DurableMessage[]> {
  const got: DurableMessage[] = [];
  const after = await s.now();
  subscriptions.push(s.read(channel, { after }).subscribe((m) => got.push(m)));
  return got;
}

/** A handler that records the payload and is done at once. */
function pushed(list: string[], payload: string): Promise<void> {
  list.push(payload);
  return Promise.resolve();
}

const payloads = (messages: DurableMessage[]) => messages.map((m) => m.payload);
const q = (name: string) => `"${schema}".${name}`;

beforeAll(async () => {
  admin = await connectClient();
  await admin.query(durableSchemaSql(schema));
});
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await Promise.all(sources.splice(0).map((s) => s.close()));
  for (const own of ownSchemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS "${own}" CASCADE`);
});
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

test('two install() at the same time both succeed, on a schema that did not exist', async () => {
  const fresh = uniqueChannel('durable_install');
  const [a, b, c] = [0, 1, 2].map(() => new PgDurableSource(databaseUrl(), { schema: fresh }));
  try {
    await Promise.all([a!.install(), b!.install(), c!.install()]);
    await a!.install(); // and again, idempotent
    expect(await a!.publish('x', 'y')).toMatch(/^\d+$/);
  } finally {
    await Promise.all([a!.close(), b!.close(), c!.close()]);
    await admin.query(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`);
  }
});

test('out-of-order commits: a later transaction arrives while an earlier one is open; the earlier one arrives when it commits', async () => {
  const s = source();
  const channel = uniqueChannel('ooo');
  const got = await reader(s, channel);
  const t1 = await connectClient();
  try {
    await t1.query('BEGIN');
    await t1.query(`SELECT ${q('publish')}($1, 't1')`, [channel]);
    const t2id = await s.publish(channel, 't2'); // T2: a higher id, committed first
    await waitFor('T2 while T1 is open', () => got.length === 1);
    expect(payloads(got)).toEqual(['t2']);
    expect(got[0]!.id).toBe(t2id);
    await t1.query('COMMIT');
    await waitFor('T1 after its commit', () => got.length === 2);
    expect(payloads(got)).toEqual(['t2', 't1']);
    expect(BigInt(got[1]!.id)).toBeLessThan(BigInt(got[0]!.id)); // T1 had the lower id and was not skipped
  } finally {
    await t1.end();
  }
});

test('an unrelated transaction holding an xid open delays nothing', async () => {
  const s = source();
  const channel = uniqueChannel('longtx');
  const got = await reader(s, channel);
  const idle = await connectClient();
  try {
    await idle.query('BEGIN');
    await idle.query('SELECT pg_current_xact_id()'); // holds an xid: every snapshot's xmin stays at it
    const held = (async () => {
      await idle.query('SELECT pg_sleep(10)');
      return 'still open after 10 s';
    })();
    for (let i = 1; i <= 3; i++) await s.publish(channel, `m${i}`);
    // Within the 10 s, while the transaction is certainly open (its pg_sleep has not returned).
    let open = true;
    void held.then(() => (open = false));
    await waitFor('the messages while the long transaction is open', () => got.length === 3, 9_000);
    expect(open).toBe(true);
    expect(payloads(got)).toEqual(['m1', 'm2', 'm3']);
    await held;
    await idle.query('ROLLBACK');
  } finally {
    await idle.end();
  }
});

test('a rolled-back transaction publishes nothing', async () => {
  const s = source();
  const channel = uniqueChannel('rollback');
  const got = await reader(s, channel);
  const tx = await connectClient();
  try {
    await tx.query('BEGIN');
    await tx.query(publishQuery(channel, { lost: true }, { schema }));
    await tx.query('ROLLBACK');
    await tx.query(publishQuery(channel, { marker: 1 }, { schema }));
    await waitFor('the marker', () => got.length > 0);
    expect(payloads(got)).toEqual(['{"marker":1}']);
  } finally {
    await tx.end();
  }
});

test('a 10 MB payload published from a trigger arrives intact', async () => {
  const s = source();
  const channel = uniqueChannel('orders');
  const got = await reader(s, channel);
  const table = q(`t_${channel}`);
  await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, body text NOT NULL)`);
  await admin.query(
    `CREATE FUNCTION ${q(`f_${channel}`)}() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM ${q('publish')}(${admin.escapeLiteral(channel)}, row_to_json(NEW)::text); RETURN NEW; END $$`,
  );
  await admin.query(`CREATE TRIGGER t AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${q(`f_${channel}`)}()`);
  // 10 MB of varied text (multi-byte characters and quotes included), so truncation or re-encoding shows.
  const unit = 'ab"c\\é€😀\n';
  const body = unit.repeat(Math.ceil((10 * 2 ** 20) / Buffer.byteLength(unit)) + 1);
  expect(Buffer.byteLength(body)).toBeGreaterThan(10 * 2 ** 20);
  await admin.query(`INSERT INTO ${table} (body) VALUES ($1)`, [body]);
  await waitFor('the 10 MB message', () => got.length === 1, 30_000);
  expect(JSON.parse(got[0]!.payload)).toEqual({ id: 1, body });
});

test('publishQuery serialises as notify() does, with no 8000-byte limit, and commits with the transaction', async () => {
  const s = source();
  const channel = uniqueChannel('pq');
  const got = await reader(s, channel);
  const big = { text: 'x'.repeat(100_000) };
  const { rows } = await admin.query<{ id: string }>(publishQuery(channel, big, { schema }));
  await admin.query(publishQuery(channel, '42', { schema }));
  await admin.query(publishQuery(channel, undefined, { schema }));
  await waitFor('three messages', () => got.length === 3);
  expect(got[0]!.id).toBe(rows[0]!.id);
  expect(payloads(got)).toEqual([JSON.stringify(big), '"42"', '']);
  expect(() => publishQuery(channel, 1n)).toThrow(InvalidArgumentError);
  expect(() => publishQuery('', 1)).toThrow(InvalidChannelError);
  expect(() => publishQuery(channel, 1, { schema: 'pg_x' })).toThrow(InvalidArgumentError);
});

test('read from a cursor resumes right after that message; earliest replays everything retained; each observer reads on its own', async () => {
  const s = source();
  const channel = uniqueChannel('cursor');
  const first = await reader(s, channel);
  for (let i = 1; i <= 5; i++) await s.publish(channel, String(i));
  await waitFor('five', () => first.length === 5);
  const resumed: string[] = [];
  subscriptions.push(s.read(channel, { after: first[1]!.cursor }).subscribe((m) => resumed.push(m.payload)));
  const all: string[] = [];
  subscriptions.push(s.read(channel, 'earliest').subscribe((m) => all.push(m.payload)));
  await s.publish(channel, '6');
  await waitFor('resumed and earliest', () => resumed.length === 4 && all.length === 6);
  expect(resumed).toEqual(['3', '4', '5', '6']);
  expect(all).toEqual(['1', '2', '3', '4', '5', '6']);
  expect(await s.behind(channel, first[1]!.cursor)).toBe(4);
  expect(() => s.read(channel, { after: 'nonsense' })).toThrow(InvalidArgumentError);
  expect(() => s.read(channel, 'latest' as never)).toThrow(InvalidArgumentError);
});

test('pages: a backlog larger than a page arrives in order, each once', async () => {
  const s = source({ pageSize: 7 });
  const channel = uniqueChannel('pages');
  const got = await reader(s, channel);
  await admin.query(`SELECT count(${q('publish')}($1, g::text)) FROM generate_series(1, 100) AS g`, [channel]);
  await waitFor('100', () => got.length >= 100);
  expect(payloads(got)).toEqual(Array.from({ length: 100 }, (_, i) => String(i + 1)));
});

test('a consumer stores its position at subscribe, resumes after a restart, and forget starts it anew', async () => {
  const channel = uniqueChannel('consumer');
  const a = source();
  const handled: string[] = [];
  // The Observable emits a message once its position is stored.
  const sub = a.consume('c', channel, () => Promise.resolve()).subscribe((m) => handled.push(m.payload));
  await waitFor('the stored position', async () => (await a.lag('c', channel)) !== undefined);
  await a.publish(channel, '1');
  await waitFor('1', () => handled.length === 1);
  sub.unsubscribe(); // pauses
  await a.publish(channel, '2');
  await a.publish(channel, '3');
  expect((await a.lag('c', channel))?.behind).toBe(2);
  const b = source();
  const again: string[] = [];
  subscriptions.push(b.consume('c', channel, (m) => pushed(again, m.payload)).subscribe());
  await waitFor('2 and 3', () => again.length === 2);
  expect(again).toEqual(['2', '3']);
  // The handler of '3' has resolved; its position is stored right after.
  await waitFor('the position of 3 stored', async () => (await b.lag('c', channel))?.behind === 0);
  await b.forget('c', channel);
  expect(await b.lag('c', channel)).toBeUndefined();
});

test('a throwing handler is reported as a SubscriberError and its message counts as handled', async () => {
  const s = source();
  const { errors } = collect(s);
  const channel = uniqueChannel('poison');
  const seen: string[] = [];
  subscriptions.push(
    s
      .consume('p', channel, (m) => {
        seen.push(m.payload);
        return m.payload === 'bad' ? Promise.reject(new Error('boom')) : Promise.resolve();
      })
      .subscribe(),
  );
  await waitFor('the stored position', async () => (await s.lag('p', channel)) !== undefined);
  await s.publish(channel, 'bad');
  await s.publish(channel, 'good');
  await waitFor('both', () => seen.length === 2);
  expect(seen).toEqual(['bad', 'good']);
  expect(errors.map((e) => e.name)).toEqual(['SubscriberError']);
});

test('two processes sharing a consumer never move its position back', async () => {
  // The slow process reads message 0 alone, then 1–3 in one later batch; the fast one reads each
  // message in a batch of its own. The slow one's position after 1 has the newer snapshot but
  // covers less than the fast one's after 3: storing it would move the position back.
  const channel = uniqueChannel('shared');
  const fast = source();
  const slow = source();
  fast
    .consume('r', channel, () => Promise.resolve())
    .subscribe()
    .unsubscribe();
  await waitFor('the stored position', async () => (await fast.lag('r', channel)) !== undefined);
  const gates = new Map<string, { promise: Promise<void>; release: () => void }>();
  for (const payload of ['0', '1', '2', '3']) {
    let release: () => void = () => undefined;
    const promise = new Promise<void>((resolve) => (release = resolve));
    gates.set(payload, { promise, release });
  }
  const slowStarted: string[] = [];
  const slowDone: string[] = [];
  subscriptions.push(
    slow
      .consume('r', channel, async (m) => {
        slowStarted.push(m.payload);
        await gates.get(m.payload)!.promise;
      })
      .subscribe((m) => slowDone.push(m.payload)),
  );
  await fast.publish(channel, '0');
  await waitFor('slow holding 0', () => slowStarted.length === 1);
  const fastDone: string[] = [];
  subscriptions.push(fast.consume('r', channel, () => Promise.resolve()).subscribe((m) => fastDone.push(m.payload)));
  await waitFor('fast handled 0', () => fastDone.length === 1);
  for (const payload of ['1', '2', '3']) {
    await fast.publish(channel, payload);
    await waitFor(`fast handled ${payload}`, () => fastDone.length === Number(payload) + 1);
  }
  expect((await fast.lag('r', channel))?.behind).toBe(0);
  await admin.query('SELECT pg_current_xact_id()'); // an xid: the slow one's next snapshot is newer
  gates.get('0')!.release();
  await waitFor('slow holding 1', () => slowStarted.length === 2);
  expect((await fast.lag('r', channel))?.behind).toBe(0);
  gates.get('1')!.release();
  await waitFor('slow stored 1', () => slowDone.length === 2);
  expect((await fast.lag('r', channel))?.behind).toBe(0);
  gates.get('2')!.release();
  gates.get('3')!.release();
  await waitFor('slow handled all', () => slowDone.length === 4);
  expect(slowDone).toEqual(['0', '1', '2', '3']);
  expect((await fast.lag('r', channel))?.behind).toBe(0);
});

test('retention: a consumer behind the pruned range gets ReplayGapError with the count, then continues with the oldest retained message', async () => {
  const channel = uniqueChannel('retention');
  // A schema of its own: retention looks at every channel's messages.
  const own = uniqueChannel('durable_retention');
  ownSchemas.push(own);
  const s = source({ schema: own, retentionMs: 60 * 60 * 1000 });
  const { errors } = collect(s);
  await s.install();
  s.consume('late', channel, () => Promise.resolve())
    .subscribe()
    .unsubscribe();
  await waitFor('the stored position', async () => (await s.lag('late', channel)) !== undefined);
  const cursor = await s.now();
  for (let i = 1; i <= 5; i++) await s.publish(channel, `old${i}`);
  await admin.query(`UPDATE "${own}".messages SET created_at = created_at - interval '1 day'`);
  for (let i = 1; i <= 2; i++) await s.publish(channel, `new${i}`);
  // Pruning never passes a transaction still running (another test's, on this shared server).
  let pruned = 0;
  try {
    await waitFor('the pruning', async () => (pruned += await s.prune()) >= 5, 100_000);
  } catch (error) {
    // Say who held it back: the sessions whose snapshot is older than the messages.
    const { rows } = await admin.query(
      `SELECT pid, application_name, state, backend_xmin::text, now() - xact_start AS age, left(query, 80) AS query
         FROM pg_stat_activity WHERE backend_xmin IS NOT NULL OR backend_xid IS NOT NULL`,
    );
    throw new Error(`${(error as Error).message}; sessions with a snapshot or xid: ${JSON.stringify(rows)}`, { cause: error });
  }
  expect(pruned).toBe(5);
  const got: string[] = [];
  subscriptions.push(s.consume('late', channel, (m) => pushed(got, m.payload)).subscribe());
  const read: string[] = [];
  subscriptions.push(s.read(channel, { after: cursor }).subscribe((m) => read.push(m.payload)));
  await waitFor('the retained messages', () => got.length === 2 && read.length === 2);
  expect(got).toEqual(['new1', 'new2']);
  expect(read).toEqual(['new1', 'new2']);
  const gaps = errors.filter((e): e is ReplayGapError => e instanceof ReplayGapError);
  expect(gaps.map((g) => [g.consumer, g.lost])).toEqual(
    expect.arrayContaining([
      ['late', 5],
      [undefined, undefined],
    ]),
  );
  expect(gaps).toHaveLength(2);
  // A reader that had read everything before the pruning sees no gap.
  const fresh: string[] = [];
  subscriptions.push(s.read(channel, 'earliest').subscribe((m) => fresh.push(m.payload)));
  await s.publish(channel, 'new3');
  await waitFor('new3', () => fresh.length === 3 && got.length === 3);
  expect(fresh).toEqual(['new1', 'new2', 'new3']);
  expect(errors.filter((e) => e instanceof ReplayGapError)).toHaveLength(2);
  // Pruning waits for every transaction of the server older than the messages, other test files'
  // included: this test allows it time.
}, 150_000);

test('bad input: typed errors, nothing changed', () => {
  expect(() => durableSchemaSql('')).toThrow(InvalidArgumentError);
  expect(() => durableSchemaSql('x'.repeat(64))).toThrow(InvalidArgumentError);
  expect(() => new PgDurableSource(databaseUrl(), { schema: 'pg_catalog' })).toThrow(InvalidArgumentError);
  expect(() => new PgDurableSource(databaseUrl(), { pollIntervalMs: 0 })).toThrow(InvalidArgumentError);
  const s = source();
  expect(() => s.consume('', 'c', () => Promise.resolve())).toThrow(InvalidArgumentError);
  expect(() => s.read('x'.repeat(64), 'now')).toThrow(InvalidChannelError);
  // A quoted, odd schema name round-trips.
  expect(durableSchemaSql('We"ird')).toContain('"We""ird".messages');
});
