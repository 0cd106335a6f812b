// Durable channels on the shared PostgreSQL: a schema of this file's own, dropped afterwards.
import { readFile } from 'node:fs/promises';

import type pg from 'pg';
import type { Subscription } from 'rxjs';

import {
  DurableUnavailableError,
  durableSchemaSql,
  InvalidArgumentError,
  InvalidChannelError,
  PgDurableSource,
  publishManyQuery,
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

/** Installs `schema` as pgnotifier 0.1.0 made it (its own DDL, kept as a fixture), for the upgrade tests. */
async function installEarlier(schema: string): Promise<void> {
  const earlier = await readFile('tests/fixtures/durable-schema-0.1.0.sql', 'utf8');
  await admin.query(earlier.replaceAll('old_pgnotifier_schema', schema));
}
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

test('publishMany: one statement, ids in payload order, delivered in that order, one wake-up; a payload over 8000 bytes and array-literal characters arrive intact', async () => {
  const s = source();
  const channel = uniqueChannel('many');
  const got = await reader(s, channel);
  const wakes: string[] = [];
  const listener = await connectClient();
  try {
    listener.on('notification', (n) => {
      if (n.payload === channel) wakes.push(n.payload);
    });
    await listener.query(`LISTEN ${listener.escapeIdentifier(s.wakeChannel)}`);
    // Characters an array literal treats specially (quotes, backslashes, braces, commas, NULL,
    // blanks), multi-byte text, an empty payload, and one far over NOTIFY's 8000 bytes.
    const texts = [
      '{"i":1}',
      'NULL',
      '',
      ' a, {b} "c" \\d\n',
      'é€😀',
      'x'.repeat(9000) + '"\\',
      ...Array.from({ length: 1200 }, (_, i) => `{"n":${i}}`),
    ];
    const ids = await s.publishMany(channel, texts);
    expect(ids).toHaveLength(texts.length);
    for (let i = 1; i < ids.length; i++) expect(BigInt(ids[i]!)).toBeGreaterThan(BigInt(ids[i - 1]!));
    await waitFor('every message of the batch', () => got.length === texts.length);
    expect(payloads(got)).toEqual(texts);
    expect(got.map((m) => m.id)).toEqual(ids);
    // An empty array publishes nothing and sends no wake-up; a marker shows the reader is past it.
    expect(await s.publishMany(channel, [])).toEqual([]);
    const { rows: none } = await admin.query<{ ids: string[] }>(`SELECT ${q('publish_many')}($1, '{}')::text[] AS ids`, [channel]);
    expect(none[0]!.ids).toEqual([]);
    await s.publish(channel, 'marker');
    await waitFor('the marker', () => got.length === texts.length + 1);
    expect(payloads(got.slice(texts.length))).toEqual(['marker']);
    await waitFor('the marker wake-up', () => wakes.length === 2);
    expect(wakes).toHaveLength(2); // one for the whole batch, one for the marker
  } finally {
    await listener.end();
  }
});

test('publishMany is all or none: a rolled-back transaction publishes nothing, and a batch the server refuses publishes none of it', async () => {
  const s = source();
  const channel = uniqueChannel('manytx');
  const got = await reader(s, channel);
  const tx = await connectClient();
  try {
    await tx.query('BEGIN');
    const { rows } = await tx.query<{ ids: string[] }>(publishManyQuery(channel, [{ lost: 1 }, { lost: 2 }], { schema }));
    expect(rows[0]!.ids).toHaveLength(2);
    await tx.query('ROLLBACK');
    // A NUL byte cannot be stored in text: the server refuses the statement, the first payload included.
    await expect(s.publishMany(channel, ['fine', 'bad\u0000'])).rejects.toThrow();
    // publishManyQuery serialises as notify() does.
    const committed = await tx.query<{ ids: string[] }>(publishManyQuery(channel, [{ a: 1 }, '42', undefined], { schema }));
    await waitFor('the committed batch', () => got.length === 3);
    expect(payloads(got)).toEqual(['{"a":1}', '"42"', '']);
    expect(got.map((m) => m.id)).toEqual(committed.rows[0]!.ids);
    const { rows: stored } = await admin.query<{ n: string }>(`SELECT sum(n)::text AS n FROM ${q('messages')} WHERE channel = $1`, [
      channel,
    ]);
    expect(stored[0]!.n).toBe('3');
  } finally {
    await tx.end();
  }
});

test('publishMany bad input: typed errors, nothing published', async () => {
  const s = source();
  const channel = uniqueChannel('manybad');
  await expect(s.publishMany('', ['x'])).rejects.toThrow(InvalidChannelError);
  await expect(s.publishMany(channel, 'x' as never)).rejects.toThrow(InvalidArgumentError);
  await expect(s.publishMany(channel, ['x', 1 as never])).rejects.toThrow(InvalidArgumentError);
  await expect(s.publishMany(channel, [undefined as never])).rejects.toThrow(InvalidArgumentError);
  expect(() => publishManyQuery(channel, [1, 2n])).toThrow(InvalidArgumentError);
  expect(() => publishManyQuery(channel, { length: 1 } as never)).toThrow(InvalidArgumentError);
  expect(() => publishManyQuery('', [1])).toThrow(InvalidChannelError);
  expect(() => publishManyQuery(channel, [1], { schema: 'pg_x' })).toThrow(InvalidArgumentError);
  const { rows } = await admin.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${q('messages')} WHERE channel = $1`, [channel]);
  expect(rows[0]!.n).toBe('0');
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

test('a cursor is checked for meaning and for its channel: one PostgreSQL would refuse, or of another channel, is refused at once', async () => {
  const s = source();
  const enc = (text: string) => Buffer.from(text).toString('base64url');
  for (const crafted of [
    'v1/50:30:/50:30:/0', // xmin above xmax
    'v1/10:20:5/10:20:5/0', // an in-progress xid below xmin
    'v1/10:20:25/10:20:/0', // an in-progress xid at or above xmax
    'v1/10:20:15,12/10:20:/0', // in-progress xids out of order
    'v1/0:0:/0:0:/0', // xid 0 is no transaction
    'v1/3:3:/3:3:/9999999999999999999', // an id beyond bigint
    'v1/99999999999999999999:99999999999999999999:/99999999999999999999:99999999999999999999:/0', // beyond xid8
    'v1/10:30:/10:20:/0', // since newer than upto
  ]) {
    expect(() => s.read('c', { after: enc(crafted) })).toThrow(InvalidArgumentError);
  }
  // One transaction commits B1, B2, A1, B3 (ids in that order): A1's cursor on B would skip B1 and B2.
  const [a, b] = [uniqueChannel('cur_a'), uniqueChannel('cur_b')];
  const onA = await reader(s, a);
  const start = await s.now();
  await admin.query('BEGIN');
  for (const [channel, payload] of [
    [b, 'B1'],
    [b, 'B2'],
    [a, 'A1'],
    [b, 'B3'],
  ] as const) {
    await admin.query(publishQuery(channel, payload, { schema }));
  }
  await admin.query('COMMIT');
  await waitFor('A1', () => onA.length === 1);
  const cursorA1 = onA[0]!.cursor;
  expect(() => s.read(b, { after: cursorA1 })).toThrow(/another channel/);
  expect(() => {
    s.checkCursor(cursorA1, b);
  }).toThrow(InvalidArgumentError);
  await expect(s.behind(b, cursorA1)).rejects.toThrow(InvalidArgumentError);
  s.checkCursor(cursorA1, a);
  // A cursor standing for a moment (now()) fits every channel.
  const onB: string[] = [];
  subscriptions.push(s.read(b, { after: start }).subscribe((m) => onB.push(m.payload)));
  await waitFor('B1, B2, B3', () => onB.length === 3);
  expect(onB).toEqual(['"B1"', '"B2"', '"B3"']);
  // A cursor of the previous version (no channel in it) is still read.
  const [, , ...parts] = Buffer.from(cursorA1, 'base64url').toString('utf8').split('/');
  const v1: string[] = [];
  subscriptions.push(s.read(a, { after: enc(['v1', ...parts].join('/')) }).subscribe((m) => v1.push(m.payload)));
  await s.publish(a, 'A2');
  await waitFor('A2 after the v1 cursor', () => v1.length === 1);
  expect(v1).toEqual(['A2']);
});

test('a missing schema: publish rejects and readers report, once, a DurableUnavailableError saying what to do; once installed they read', async () => {
  const missing = uniqueChannel('durable_missing');
  ownSchemas.push(missing);
  const s = source({ schema: missing });
  const { errors } = collect(s);
  const publishing = s.publish('jobs', 'lost');
  await expect(publishing).rejects.toThrow(DurableUnavailableError);
  const refused = (await publishing.catch((error: unknown) => error)) as DurableUnavailableError;
  expect(refused.message).toContain(
    `the durable schema "${missing}" is missing: run notifier.install(), \`pgnotifier install --schema ${missing}\``,
  );
  expect(refused.schema).toBe(missing);
  expect((refused.cause as { code?: string }).code).toBe('3F000');
  await expect(s.position('w', 'jobs')).rejects.toThrow(DurableUnavailableError);
  const read: string[] = [];
  const handled: string[] = [];
  subscriptions.push(s.read('jobs', 'earliest').subscribe((m) => read.push(m.payload)));
  subscriptions.push(s.consume('w', 'jobs', (m) => pushed(handled, m.payload)).subscribe());
  await waitFor('the report', () => errors.length > 0);
  // Ten polls of two readers (100 ms apart) meet the missing schema: reported once.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(errors.map((e) => e.name)).toEqual(['DurableUnavailableError']);
  expect(errors[0]!.message).toMatch(/is missing: run notifier\.install\(\)/);
  await s.install();
  // The consumer starts where it first stores its position: at its first poll after the install.
  await waitFor('the consumer', async () => (await admin.query(`SELECT 1 FROM "${missing}".positions`)).rows.length === 1);
  await s.publish('jobs', 'found');
  await waitFor('both readers', () => read.length === 1 && handled.length === 1);
  expect([read, handled]).toEqual([['found'], ['found']]);
});

test('the reserved wake-up prefix: publishQuery, publish, publishMany and the SQL publish and publish_many refuse it', async () => {
  const s = source();
  expect(() => publishQuery('pgnotifier:x', 1, { schema })).toThrow(InvalidChannelError);
  await expect(s.publish('pgnotifier:x', '1')).rejects.toThrow(InvalidChannelError);
  await expect(s.publishMany('pgnotifier:x', ['1'])).rejects.toThrow(InvalidChannelError);
  await expect(admin.query(`SELECT ${q('publish')}('pgnotifier:${schema}', 'fake')`)).rejects.toMatchObject({
    code: '22023',
    message: expect.stringMatching(/reserved for durable wake-ups/) as unknown,
  });
  await expect(admin.query(`SELECT ${q('publish_many')}('pgnotifier:${schema}', ARRAY['fake'])`)).rejects.toMatchObject({
    code: '22023',
  });
  const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${q('messages')} WHERE channel LIKE 'pgnotifier:%'`);
  expect(rows).toEqual([{ n: 0 }]);
  // Other names still publish from SQL.
  expect((await admin.query(`SELECT ${q('publish')}('pgnotifier', 'ok')::text AS id`)).rows[0]).toEqual({
    id: expect.stringMatching(/^\d+$/) as unknown,
  });
});

test('pages: a backlog larger than a page arrives in order, each once', async () => {
  const s = source({ pageSize: 7 });
  const channel = uniqueChannel('pages');
  const got = await reader(s, channel);
  await admin.query(`SELECT count(${q('publish')}($1, g::text)) FROM generate_series(1, 100) AS g`, [channel]);
  await waitFor('100', () => got.length >= 100);
  expect(payloads(got)).toEqual(Array.from({ length: 100 }, (_, i) => String(i + 1)));
});

test('publishMany packs a batch into rows of up to 1,000 (at most 64 kB; a batch with a payload over 8000 bytes is a row per message); readers page inside rows, cursors and consumers resume inside them', async () => {
  const s = source({ pageSize: 7 });
  const channel = uniqueChannel('packed');
  const got = await reader(s, channel);
  // Large payloads fetched one at a time past 100 bytes: packed ones still come with their page.
  const alone = await reader(source({ inlinePayloadBytes: 100, pageSize: 50 }), channel);
  const small = Array.from({ length: 2500 }, (_, i) => `{"i":${i}}`);
  const sized = Array.from({ length: 50 }, (_, i) => `${i}:`.padEnd(3000, 'é')); // multibyte: about 6,000 bytes each
  // Mostly empty, a few of 8000 bytes: rows are sized by the largest payload, not the average.
  const skewed = [...Array.from({ length: 100 }, () => ''), ...Array.from({ length: 8 }, (_, i) => `${i}`.padEnd(8000, 's'))];
  const withLarge = ['a', 'b'.repeat(8001), 'c', ''];
  const texts = [...small, ...sized, ...skewed, ...withLarge];
  const consumer = source();
  const handled: string[] = [];
  const paused = consumer
    .consume('packed', channel, (m) => {
      handled.push(m.payload);
      return Promise.resolve();
    })
    .subscribe();
  subscriptions.push(paused);
  await waitFor('the stored position', async () => (await consumer.lag('packed', channel)) !== undefined);
  const ids = [
    ...(await s.publishMany(channel, small)),
    ...(await s.publishMany(channel, sized)),
    ...(await s.publishMany(channel, skewed)),
    ...(await s.publishMany(channel, withLarge)),
  ];
  const { rows } = await admin.query<{ n: number; single: boolean }>(
    `SELECT n, single_payload IS NOT NULL AS single FROM ${q('messages')} WHERE channel = $1 ORDER BY id`,
    [channel],
  );
  // At most 65,536 bytes a row: 10 of the payloads, the largest of which has 5,998 bytes.
  expect(rows.map((r) => (r.single ? `single ${r.n}` : `packed ${r.n}`))).toEqual([
    'packed 1000',
    'packed 1000',
    'packed 500',
    ...Array.from({ length: 5 }, () => 'packed 10'),
    ...Array.from({ length: 13 }, () => 'packed 8'),
    'packed 4',
    ...Array.from({ length: 4 }, () => 'single 1'),
  ]);
  await waitFor('all on both readers', () => got.length === texts.length && alone.length === texts.length);
  expect(payloads(got)).toEqual(texts);
  expect(got.map((m) => m.id)).toEqual(ids);
  expect(payloads(alone)).toEqual(texts);
  // A cursor in the middle of a packed row: what lies after it, counted and read.
  const middle = got[1500]!;
  expect(await s.behind(channel, middle.cursor)).toBe(texts.length - 1501);
  const after: string[] = [];
  subscriptions.push(s.read(channel, { after: middle.cursor }).subscribe((m) => after.push(m.payload)));
  await waitFor('the rest after it', () => after.length === texts.length - 1501);
  expect(after).toEqual(texts.slice(1501));
  // A consumer paused in the middle of a row resumes right after its last handled message.
  await waitFor('the consumer past 1,234', () => handled.length >= 1234);
  paused.unsubscribe();
  const stood = handled.length;
  await waitFor('its position stored', async () => (await consumer.lag('packed', channel))?.behind === texts.length - stood);
  const rest: string[] = [];
  subscriptions.push(
    source()
      .consume('packed', channel, (m) => pushed(rest, m.payload))
      .subscribe(),
  );
  await waitFor('the rest', () => rest.length === texts.length - stood);
  expect([...handled, ...rest]).toEqual(texts);
  // A NULL element from SQL is stored and read as '', in a packed row as in a single one.
  const nulls = uniqueChannel('packednull');
  await admin.query(`SELECT ${q('publish_many')}($1, ARRAY['x', NULL])`, [nulls]);
  const { rows: stored } = await admin.query<{ p: string[] }>(`SELECT packed_payloads AS p FROM ${q('messages')} WHERE channel = $1`, [
    nulls,
  ]);
  expect(stored.map((r) => r.p)).toEqual([['x', '']]);
});

test('an outbox made before packed rows: install() upgrades it in place, its messages and cursors stay valid, new ids come after them', async () => {
  const own = uniqueChannel('durable_upgrade');
  ownSchemas.push(own);
  const channel = uniqueChannel('upgrade');
  // The schema as 0.1.0 made it (one row per message, ids one apart), with 20 messages published by its own function.
  await installEarlier(own);
  await admin.query(`SELECT count("${own}".publish($1, 'old' || g)) FROM generate_series(1, 20) AS g`, [channel]);
  const s = source({ schema: own, pageSize: 3 });
  // Read before the upgrade: a typed error saying to install again, not the server's complaint at every poll.
  const { errors } = collect(s);
  const early: string[] = [];
  subscriptions.push(s.read(channel, 'earliest').subscribe((m) => early.push(m.payload)));
  await waitFor('the outdated schema reported', () => errors.length > 0);
  expect(errors[0]).toBeInstanceOf(DurableUnavailableError);
  expect(errors[0]).toMatchObject({ outdated: true, schema: own });
  expect(errors[0]!.message).toMatch(/earlier version of pgnotifier: run notifier\.install\(\).* to upgrade it in place/);
  await s.install();
  await s.install();
  const ids = await s.publishMany(channel, ['new1', 'new2']);
  expect(BigInt(ids[0]!)).toBeGreaterThan(20n);
  const everything: DurableMessage[] = [];
  subscriptions.push(s.read(channel, 'earliest').subscribe((m) => everything.push(m)));
  await waitFor('22 messages', () => everything.length === 22);
  const olds = Array.from({ length: 20 }, (_, i) => `old${i + 1}`);
  expect(payloads(everything)).toEqual([...olds, 'new1', 'new2']);
  expect(everything.slice(0, 20).map((m) => m.id)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  // From old10: the ten rows up to it lie within a row's reach below its id and are left out, not read as a page.
  const after: string[] = [];
  subscriptions.push(s.read(channel, { after: everything[9]!.cursor }).subscribe((m) => after.push(m.payload)));
  await waitFor('the 12 after old10', () => after.length === 12);
  expect(after).toEqual([...olds.slice(10), 'new1', 'new2']);
  expect(await s.behind(channel, everything[9]!.cursor)).toBe(12);
  await waitFor('the early reader, once upgraded', () => early.length === 22);
  expect(early).toEqual(payloads(everything));
  expect(errors).toHaveLength(1);
});

test('upgrading an earlier outbox while a transaction holds it: install() gives up after 5 s with a clear error, changing nothing; once it ends, install() works', async () => {
  const own = uniqueChannel('durable_upgrade_lock');
  ownSchemas.push(own);
  await installEarlier(own);
  const holder = await connectClient();
  try {
    await holder.query('BEGIN');
    await holder.query(`SELECT "${own}".publish('held', 'in flight')`);
    const s = source({ schema: own });
    await expect(s.install()).rejects.toMatchObject({
      code: '55P03',
      message: expect.stringMatching(/^Upgrading ".+"\.messages to this version of pgnotifier needs the table to itself/) as string,
    });
    // Nothing changed: still the earlier table.
    const { rows } = await admin.query(
      `SELECT attname FROM pg_attribute WHERE attrelid = '"${own}".messages'::regclass AND attname = 'payload'`,
    );
    expect(rows).toHaveLength(1);
    await holder.query('COMMIT');
    await s.install();
    const got: string[] = [];
    subscriptions.push(s.read('held', 'earliest').subscribe((m) => got.push(m.payload)));
    await waitFor('the message held', () => got.length === 1);
    expect(got).toEqual(['in flight']);
  } finally {
    await holder.end();
  }
});

test('a schema name holding the quote of function bodies ($pgnotifier$) installs and works', async () => {
  const own = uniqueChannel('durable').slice(0, 40) + '$pgnotifier$x';
  ownSchemas.push(own);
  const s = source({ schema: own });
  await s.install();
  const got = await reader(s, 'dollar');
  await s.publishMany('dollar', ['1', '2']);
  await waitFor('both', () => got.length === 2);
  expect(payloads(got)).toEqual(['1', '2']);
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
  // Emitted once the position is stored (the handler's own push would race the store).
  subscriptions.push(b.consume('c', channel, () => Promise.resolve()).subscribe((m) => again.push(m.payload)));
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

test('a paused consumer resumes where it stood, even when another process sharing it moved the stored position on', async () => {
  const channel = uniqueChannel('shared_pause');
  const a = source();
  const b = source();
  const consumeA = a.consume('x', channel, () => Promise.resolve());
  const gotA: string[] = [];
  const gotB: string[] = [];
  let subA = consumeA.subscribe((m) => gotA.push(m.payload));
  subscriptions.push(b.consume('x', channel, () => Promise.resolve()).subscribe((m) => gotB.push(m.payload)));
  await a.position('x', channel);
  await a.publish(channel, '1');
  await waitFor('both have 1', () => gotA.length === 1 && gotB.length === 1);
  subA.unsubscribe(); // paused, as a mute does
  await a.publish(channel, '2');
  await a.publish(channel, '3');
  await waitFor('b has 3', () => gotB.length === 3);
  expect((await a.lag('x', channel))?.behind).toBe(0); // b moved the shared position past 3
  subA = consumeA.subscribe((m) => gotA.push(m.payload));
  subscriptions.push(subA);
  await waitFor('a resumes', () => gotA.length === 3);
  expect(gotA).toEqual(['1', '2', '3']);
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
  // Packed into one row: retention counts the messages, not the rows.
  await s.publishMany(channel, ['old1', 'old2', 'old3', 'old4', 'old5']);
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

test('retention overtaking a consumer in the middle of a batch: ReplayGapError with the count, then it continues', async () => {
  const channel = uniqueChannel('midbatch');
  const own = uniqueChannel('durable_midbatch');
  ownSchemas.push(own);
  const s = source({ schema: own, retentionMs: 60 * 60 * 1000, pageSize: 3 });
  const { errors } = collect(s);
  await s.install();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const got: string[] = [];
  subscriptions.push(
    s
      .consume('slow', channel, async (m) => {
        got.push(m.payload);
        if (m.payload === '2') await gate;
      })
      .subscribe(),
  );
  await waitFor('the stored position', async () => (await s.lag('slow', channel)) !== undefined);
  // One transaction, one batch of 12 read 3 to a page; the consumer holds message 2.
  await admin.query('BEGIN');
  for (let i = 1; i <= 12; i++) await admin.query(publishQuery(channel, i, { schema: own }));
  await admin.query('COMMIT');
  await waitFor('message 2 held', () => got.length === 2);
  await admin.query(`UPDATE "${own}".messages SET created_at = created_at - interval '1 day'`);
  await s.publish(channel, 'new'); // retained: pruning stops before it
  let pruned = 0;
  await waitFor('the pruning', async () => (pruned += await s.prune()) >= 12, 100_000);
  release();
  await waitFor('the message after the gap', () => got.includes('new'));
  expect(got).toEqual(['1', '2', '3', 'new']); // 3 was on the page already read
  const gaps = errors.filter((e): e is ReplayGapError => e instanceof ReplayGapError);
  expect(gaps).toHaveLength(1);
  expect(gaps[0]!.consumer).toBe('slow');
  expect(gaps[0]!.lost).toBeGreaterThanOrEqual(9); // 4–12 (and 2, 3: their positions were not stored yet)
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
