// Durable channels under faults. The listening session is terminated on a private PostgreSQL
// (never the shared service); the consumer process killed with SIGKILL runs on the shared one.
import type pg from 'pg';
import { firstValueFrom, type Subscription } from 'rxjs';

import { durableSchemaSql, Notifier, type NotifierError } from '../src/index.js';
import { startChild } from './support/child.js';
import { closer, connectClient, databaseUrl, sleep, uniqueChannel, waitFor } from './support/db.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/private-postgres.js';

jest.setTimeout(180_000);

const notifiers = closer();
const subscriptions: Subscription[] = [];
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await notifiers.closeAll();
});

/** Payloads must be 0, 1, 2, ... count - 1: every message exactly once, in order. */
function expectExactlyOnceInOrder(got: readonly string[], count: number): void {
  const numbers = got.map(Number);
  const firstWrong = numbers.findIndex((n, i) => n !== i);
  expect(firstWrong).toBe(-1);
  expect(numbers).toHaveLength(count);
}

describe('on a private server', () => {
  let server: PrivatePostgres;
  let admin: pg.Client;
  beforeAll(async () => {
    server = await startPrivatePostgres();
    admin = await connectClient(server.url);
  });
  afterAll(async () => {
    await (admin as pg.Client | undefined)?.end().catch(() => undefined);
    await (server as PrivatePostgres | undefined)?.destroy();
  });

  test('10,000 messages at a steady rate while the listening backend is terminated 10 times: each durable channel$ observer and durable subscriber of the notifier gets each once, in order', async () => {
    const schema = uniqueChannel('durable_terminate');
    await admin.query(durableSchemaSql(schema));
    const app = uniqueChannel('durable_listener');
    // The notifier wakes its durable readers from its own listening connection (the only session
    // with this application_name: the durable pool has its own).
    const notifier = notifiers.track(
      new Notifier(
        { connectionString: server.url, application_name: app },
        { reconnect: { initialDelayMs: 10, maxDelayMs: 200 }, parse: 'raw', durable: { schema } },
      ),
    );
    const errors: NotifierError[] = [];
    subscriptions.push(notifier.errors$.subscribe((e) => errors.push(e)));
    const channel = uniqueChannel('stream');
    const COUNT = 10_000;
    const readers: string[][] = [[], []];
    for (const got of readers) {
      subscriptions.push(notifier.channel$<string>(channel, { durable: true }).subscribe((m) => got.push(m.payload)));
    }
    const consumers: string[][] = [[], []];
    for (const [i, got] of consumers.entries()) {
      await notifier.subscribe(`c${i}`, channel, (_id, _channel, payload: string) => void got.push(payload), { durable: true });
    }
    // Every observer's start is known (its position shows) and the wake-up channel is LISTENed.
    await waitFor('the observers started', () => (notifier.status().durable?.readers ?? []).every((r) => r.cursor !== undefined));
    await notifier.synced();

    // 20 messages per statement every few ms, from a connection of its own.
    const sender = await connectClient(server.url);
    const publishing = (async () => {
      for (let i = 0; i < COUNT; i += 20) {
        await sender.query(`SELECT count("${schema}".publish($1, g::text)) FROM generate_series($2::int, $3::int) AS g`, [
          channel,
          i,
          i + 19,
        ]);
        await sleep(3);
      }
    })();
    for (let round = 1; round <= 10; round++) {
      await sleep(150);
      const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
      expect(rows).toHaveLength(1);
      const resynced = firstValueFrom(notifier.resync$);
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await resynced; // listening again on a new session
    }
    await publishing;
    await sender.end();
    await waitFor('every message everywhere', () => [...readers, ...consumers].every((got) => got.length >= COUNT), 60_000).catch(
      (error: unknown) => {
        throw new Error(`${String(error)}; received ${[...readers, ...consumers].map((got) => got.length).join(', ')}`);
      },
    );
    for (const got of [...readers, ...consumers]) expectExactlyOnceInOrder(got, COUNT);
    expect(errors.filter((e) => e.name !== 'ConnectionError')).toEqual([]);
    expect(errors.length).toBeGreaterThanOrEqual(10); // the terminations were real
  });
});

test('a consumer process killed with SIGKILL mid-stream and started again: at least once, none skipped, in order, duplicates only of unfinished messages', async () => {
  const schema = uniqueChannel('durable_kill');
  const admin = await connectClient();
  try {
    await admin.query(durableSchemaSql(schema));
    const channel = uniqueChannel('jobs');
    const args = [databaseUrl(), schema, channel, 'worker'];
    const first = startChild('tests/fixtures/durable-consumer.ts', args, process.env, 120_000);
    await first.waitForOutput('stdout', /started/);
    // The position is stored at subscribe: wait for it, so that message 0 is after it.
    await waitFor('the stored position', async () => {
      const { rows } = await admin.query(`SELECT 1 FROM "${schema}".positions WHERE consumer = 'worker'`);
      return rows.length === 1;
    });
    const COUNT = 2000;
    const publishing = (async () => {
      for (let i = 0; i < COUNT; i += 10) {
        await admin.query(`SELECT count("${schema}".publish($1, g::text)) FROM generate_series($2::int, $3::int) AS g`, [
          channel,
          i,
          i + 9,
        ]);
        await sleep(2);
      }
    })();
    await first.waitForOutput('stdout', /done 5\d\d\n/, 60_000);
    first.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const second = startChild('tests/fixtures/durable-consumer.ts', args, process.env, 120_000);
    await publishing;
    await second.waitForOutput('stdout', new RegExp(`done ${COUNT - 1}\\n`), 60_000);
    second.kill('SIGTERM');
    await second.exited;

    const lines = (out: string, word: string) =>
      out
        .split('\n')
        .filter((l) => l.startsWith(`${word} `))
        .map((l) => Number(l.slice(word.length + 1)));
    const handling1 = lines(first.stdout(), 'handling');
    const handled1 = lines(first.stdout(), 'handled');
    const done1 = lines(first.stdout(), 'done');
    const handling2 = lines(second.stdout(), 'handling');
    // In order within each life, nothing twice within one life.
    for (const run of [handling1, handling2]) expect(run).toEqual([...run].sort((a, b) => a - b).filter((n, i, xs) => xs.indexOf(n) === i));
    expect(handling1[0]).toBe(0);
    const restart = handling2[0]!;
    const lastDone = done1[done1.length - 1]!;
    // Nothing skipped: every message before where the second life began was completed by the first.
    expect(handled1.slice(0, restart)).toEqual(Array.from({ length: restart }, (_, i) => i));
    // The only repeats are messages whose position was not stored yet (not reported done).
    expect(restart).toBeGreaterThan(lastDone);
    // The second life runs from there to the end, each once.
    expect(handling2).toEqual(Array.from({ length: COUNT - restart }, (_, i) => restart + i));
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
});
