import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Notifier } from '../src/index.js';
import { closer, databaseUrl, uniqueChannel, waitFor } from './support/db.js';

const notifiers = closer();
afterEach(() => notifiers.closeAll());

function findPgbench(): string | undefined {
  const candidates = ['/usr/bin/pgbench', ...['17', '16', '15', '14', '13'].map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)];
  return candidates.find((path) => existsSync(path));
}

const pgbench = findPgbench();
if (pgbench === undefined) process.stdout.write('pgbench test skipped: no pgbench binary on this machine\n');
const maybe = pgbench === undefined ? test.skip : test;

maybe('pgbench, 8 clients for 5 s: every committed NOTIFY arrives, in commit order per client', async () => {
  const n = notifiers.track(new Notifier(databaseUrl(), { parse: 'raw' }));
  const ch = uniqueChannel('pgbench');
  const perClient = new Map<number, number[]>();
  let total = 0;
  await n.subscribe('bench', ch, (_id, _channel, payload) => {
    const [client, txid] = (payload as string).split(':').map(Number) as [number, number];
    const list = perClient.get(client) ?? [];
    list.push(txid);
    perClient.set(client, list);
    total++;
  });

  const dir = await mkdtemp(join(tmpdir(), 'pgnotifier-bench-'));
  const script = join(dir, 'notify.sql');
  // txid_current() grows with each transaction of a client, so it marks each client's order.
  await writeFile(script, `SELECT pg_notify('${ch}', :client_id || ':' || txid_current());\n`);
  try {
    const { stdout } = await promisify(execFile)(pgbench!, ['-n', '-c', '8', '-j', '2', '-T', '5', '-f', script, databaseUrl()], {
      maxBuffer: 1 << 20,
    });
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    process.stdout.write(`pgbench processed ${processed} transactions (${failed} failed)\n`);
    expect(processed).toBeGreaterThan(1000);
    await waitFor(`${processed} notifications`, () => total >= processed, 30_000);
    expect(total).toBe(processed);
    expect([...perClient.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const txids of perClient.values()) {
      expect(txids.every((txid, i) => i === 0 || txid > txids[i - 1]!)).toBe(true);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
