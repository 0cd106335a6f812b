import { InvalidChannelError, Notifier } from '../src/index.js';
import { databaseUrl, pgNotify, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

beforeAll(async () => {
  await db.client.query('CREATE TABLE IF NOT EXISTS pgnotifier_canary (id int)');
});

const suffix = `${process.pid}`;
const odd = [
  `Mixed Case ${suffix}`,
  `with "quotes" ${suffix}`,
  `semi; colon ${suffix}`,
  `x"; DROP TABLE pgnotifier_canary; -- ${suffix}`,
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
  const { rowCount } = await db.client.query(`SELECT 1 FROM pg_tables WHERE tablename = 'pgnotifier_canary'`);
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
