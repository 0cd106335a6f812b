// The scenario of the Python original's README: channels ch1, ch2, ch3 and its five pg_notify
// examples, against a real PostgreSQL.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Notifier, type SubscriberId } from '../src/index.js';
import { envWithout, startChild } from './support/child.js';
import { databaseUrl, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

test('the original README scenario delivers each payload, parsed, to the right subscribers', async () => {
  const n = db.track(new Notifier(databaseUrl()));
  const calls: [SubscriberId, string, unknown, number][] = [];
  const record = (id: SubscriberId, channel: string, payload: unknown, pid: number) => {
    calls.push([id, channel, payload, pid]);
  };

  await n.addChannels(['ch1', 'ch3']);
  await n.subscribe(42, 'ch1', record);
  await n.subscribe('an_id', 'ch2', record);
  await n.subscribe([2, 'another_id'], 'ch2', record);

  // ch3 has no subscriber: registered, not LISTENed (the rule of the B API).
  expect(n.activeChannels().sort()).toEqual(['ch1', 'ch2']);
  expect(n.channels().ch3).toEqual({ muted: false, active: false, observers: 0, subscribers: [] });

  const { rows } = await db.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const sender = rows[0]?.pid;
  await db.client.query(`select pg_notify('ch1', '"WARNING: Something really bad happened"')`);
  await db.client.query(`select pg_notify('ch1', '{"topic": "abc", "data": "some data", "something": "else"}')`);
  await db.client.query(`select pg_notify('ch2', '{"topic": "xyz", "notice": "update", "data": [2, "stuff"]}')`);
  await db.client.query(`select pg_notify('ch2', '[1,2,3,4,5]')`);
  await db.client.query(`select pg_notify('ch3', '[1,2,3,4,5]')`);

  await waitFor('six deliveries', () => calls.length >= 6);
  expect(calls).toEqual([
    [42, 'ch1', 'WARNING: Something really bad happened', sender],
    [42, 'ch1', { topic: 'abc', data: 'some data', something: 'else' }, sender],
    ['an_id', 'ch2', { topic: 'xyz', notice: 'update', data: [2, 'stuff'] }, sender],
    [[2, 'another_id'], 'ch2', { topic: 'xyz', notice: 'update', data: [2, 'stuff'] }, sender],
    ['an_id', 'ch2', [1, 2, 3, 4, 5], sender],
    [[2, 'another_id'], 'ch2', [1, 2, 3, 4, 5], sender],
  ]);
  expect(n.status().counters).toMatchObject({ received: 4, delivered: 6, callbackErrors: 0, parseErrors: 0 });
});

// Issue 10, item 12: the README's Quick start, run as written (extracted from README.md), in a
// database of its own (NOTIFY is per database), so its channel names meet no other test's.
test('the Quick start, run verbatim, prints its big order and exits cleanly on SIGINT', async () => {
  const root = join(__dirname, '..');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  const code = /```ts\n([\s\S]*?)^```$/m.exec(readme.slice(start))?.[1];
  if (code === undefined) throw new Error('no Quick start block in README.md');
  const database = uniqueChannel('readme').replace(/[^a-z0-9_]/g, '_');
  await db.client.query(`CREATE DATABASE ${database}`);
  const dir = join(root, 'scratch');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${database}.ts`);
  writeFileSync(file, `${code}\nexport {};\n`);
  const url = new URL(databaseUrl());
  url.pathname = `/${database}`;
  try {
    const child = startChild(`scratch/${database}.ts`, [], envWithout({ DATABASE_URL: url.toString() }));
    await child.waitForOutput('stdout', /1 big orders this second/, 20_000);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
    expect(child.stdout()).not.toMatch(/0 big orders/);
  } finally {
    rmSync(file, { force: true });
    await db.client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
});
