import { InvalidChannelError, Notifier } from '../src/index.js';
import { connectClient, databaseUrl, pgNotify, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

const suffix = `${process.pid}`;
// Our own table (other test runs share the server), dropped afterwards: nothing is left behind.
const canary = `pgnotifier_canary_${suffix}_${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  await db.client.query(`CREATE TABLE ${canary} (id int)`);
});

afterAll(async () => {
  // A client of its own: the shared one may already be closed by useTestDatabase's afterAll.
  const client = await connectClient();
  try {
    await client.query(`DROP TABLE IF EXISTS ${canary}`);
  } finally {
    await client.end();
  }
});

const odd = [
  `Mixed Case ${suffix}`,
  `with "quotes" ${suffix}`,
  `semi; colon ${suffix}`,
  `x"; DROP TABLE ${canary}; --`,
  `ünïcødé ø § ${suffix}`,
  `error`,
  `UPPER${suffix}`,
  `select`,
];

test('odd names are quoted, case-exact and cannot inject SQL; a channel named "error" works', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const seen: [string, unknown][] = [];
  for (const channel of odd) n.channel$(channel).subscribe((x) => seen.push([x.channel, x.payload]));
  await n.start();
  expect(n.activeChannels().sort()).toEqual([...odd].sort());
  for (const [i, channel] of odd.entries()) await pgNotify(db.client, channel, String(i));
  // Case-exact: the unquoted spelling folds to lower case and reaches nobody.
  await db.client.query(`NOTIFY upper${suffix}, 'folded'`);
  await waitFor('one notification per name', () => seen.length >= odd.length);
  expect(seen).toEqual(odd.map((channel, i) => [channel, i]));
  const { rowCount } = await db.client.query('SELECT 1 FROM pg_tables WHERE tablename = $1', [canary]);
  expect(rowCount).toBe(1);
});

test('the name limit is 63 UTF-8 bytes, checked before anything reaches the server', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const longest = 'é'.repeat(31) + 'x'; // 63 bytes
  const seen: unknown[] = [];
  n.channel$(longest).subscribe((x) => seen.push(x.payload));
  await n.start();
  await pgNotify(db.client, longest, '"fits"');
  await waitFor('the notification', () => seen.length === 1);
  expect(() => n.channel$('é'.repeat(32))).toThrow(InvalidChannelError);
  expect(() => n.channel$('x'.repeat(64))).toThrow(/64 UTF-8 bytes/);
  expect(() => n.addChannels('nul\0byte')).toThrow(InvalidChannelError);
  expect(() => n.notify('', 1)).toThrow(InvalidChannelError);
  expect(Object.keys(n.channels())).toEqual([longest]);
});
