// Scenario 9 of `npm run bench`: scaling out through NATS. The database's NOTIFY throughput
// (pgbench, 4 clients, one pg_notify per transaction) with N consumers either LISTENing directly
// (a connection each) or behind one relay (NatsSource notifiers on NATS), and delivery latency
// at a fixed rate through both. Needs pgbench and a NATS server (NATS_URL, default
// nats://127.0.0.1:4222); skipped with a line saying why when either is missing.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { connect, type NatsConnection } from '@nats-io/transport-node';

import { Notifier } from '../src/index.js';
import { NatsSource } from '../src/nats/index.js';

const run = promisify(execFile);
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const SECONDS = Number(process.env.BENCH_RELAY_SECONDS ?? 3);

/** A row of bench/run.ts's table. */
export interface Row {
  scenario: string;
  ours: string;
  baseline: string;
  ratio: number;
  target: string;
  met: boolean | null;
}

interface Pgbench {
  readonly tps: number;
  readonly transactions: number;
}

async function pgbench(url: string, script: string, extra: string[] = []): Promise<Pgbench> {
  const dir = await mkdtemp(join(tmpdir(), 'pgnotifier-bench-'));
  try {
    const file = join(dir, 'notify.sql');
    await writeFile(file, `${script}\n`);
    const { stdout } = await run('pgbench', ['-n', '-c', '4', '-j', '2', '-T', String(SECONDS), '-f', file, ...extra, url], {
      maxBuffer: 1 << 24,
    });
    const tps = /tps = ([\d.]+)/.exec(stdout)?.[1];
    const transactions = /actually processed: (\d+)/.exec(stdout)?.[1];
    if (tps === undefined || transactions === undefined) throw new Error(`pgbench said:\n${stdout}`);
    return { tps: Number(tps), transactions: Number(transactions) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Consumers {
  close(): Promise<void>;
}

/** `count` direct listeners: a connection each, LISTENing `channel`. */
async function direct(url: string, channel: string, count: number, onPayload?: (i: number, payload: string) => void): Promise<Consumers> {
  const notifiers = Array.from({ length: count }, () => new Notifier(url, { parse: 'raw' }));
  notifiers.forEach((n, i) => n.channel$<string>(channel).subscribe((x) => onPayload?.(i, x.payload)));
  await Promise.all(notifiers.map((n) => n.start()));
  return { close: () => Promise.all(notifiers.map((n) => n.close())).then(() => undefined) };
}

/** One relay on `channel`, and `count` NatsSource notifiers, each on its own NATS connection. */
async function relayed(
  url: string,
  prefix: string,
  channel: string,
  count: number,
  onPayload?: (i: number, payload: string) => void,
  onError?: (i: number, error: Error) => void,
): Promise<Consumers & { relay: () => Promise<string> }> {
  // The relay runs as its own process, as it would in production: `pgnotifier relay`.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'relay', '--nats', NATS_URL, '--prefix', prefix, channel], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // A bench that fails exits without closing its consumers, and the relay, a process of its own,
  // would live on orphaned (seen with DATABASE_URL: still LISTENing, still publishing to NATS).
  // An 'exit' listener runs however this process ends.
  const killOnExit = (): void => {
    child.kill('SIGTERM');
  };
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      resolve();
    }),
  );
  for (const deadline = Date.now() + 30_000; !stderr.includes('leading: '); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline) throw new Error(`the relay did not lead:\n${stderr}`);
  }
  const notifiers = Array.from(
    { length: count },
    () => new Notifier(new NatsSource({ servers: NATS_URL, subjectPrefix: prefix }), { parse: 'raw' }),
  );
  notifiers.forEach((n, i) => {
    n.channel$<string>(channel).subscribe((x) => onPayload?.(i, x.payload));
    n.errors$.subscribe((error) => {
      onError?.(i, error);
    });
  });
  await Promise.all(notifiers.map((n) => n.start()));
  return {
    relay: () => Promise.resolve(stderr),
    close: async () => {
      await Promise.all(notifiers.map((n) => n.close()));
      child.kill('SIGTERM');
      await exited;
      process.off('exit', killOnExit);
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

const now = (): number => performance.timeOrigin + performance.now();

/** Runs the scenario's rows into `table`. */
export async function relayScenario(url: string, table: Row[]): Promise<void> {
  let probe: NatsConnection;
  try {
    probe = await connect({ servers: NATS_URL, timeout: 2_000, maxReconnectAttempts: 0 });
  } catch (error) {
    console.log(`9. skipped: no NATS server at ${NATS_URL} (${(error as Error).message})`);
    return;
  }
  await probe.close();
  try {
    await run('pgbench', ['--version']);
  } catch {
    console.log('9. skipped: pgbench is not installed');
    return;
  }
  const tag = `${process.pid}`;

  // 9a. What listeners cost the writers: consumers of an idle channel, pgbench on another.
  const idle = `bench_idle_${tag}`;
  const hot = `SELECT pg_notify('bench_hot_${tag}', 'x');`;
  const curve: Record<string, number> = {};
  for (const n of [0, 10, 40, 80]) {
    for (const kind of ['direct', 'relay'] as const) {
      if (n === 0 && kind === 'relay') continue;
      const consumers = kind === 'direct' ? await direct(url, idle, n) : await relayed(url, `bench-${tag}-${n}`, idle, n);
      const { tps } = await pgbench(url, hot);
      await consumers.close();
      curve[`${kind} ${n}`] = tps;
      console.log(`9. NOTIFY throughput, ${n} consumers ${kind}: ${Math.round(tps).toLocaleString()} tps`);
    }
  }
  for (const n of [10, 40, 80]) {
    const ours = curve[`relay ${n}`]!;
    const base = curve[`direct ${n}`]!;
    table.push({
      scenario: `9. NOTIFY tps, ${n} consumers: relay vs direct (0 listeners: ${Math.round(curve['direct 0']!).toLocaleString()})`,
      ours: `${Math.round(ours).toLocaleString()} tps`,
      baseline: `${Math.round(base).toLocaleString()} tps`,
      ratio: Math.round((ours / base) * 100) / 100,
      target: n === 80 ? '≥ 5' : '(report)',
      met: n === 80 ? ours / base >= 5 : null,
    });
  }

  // 9b. Delivery at a fixed rate to 80 consumers, each notification stamped when sent.
  // 200/s: 80 direct listeners hold the database to ~550 NOTIFY/s on this machine, so a rate both
  // sides can take; 80 consumers × 200/s = 16,000 deliveries/s into this one process.
  const rate = Number(process.env.BENCH_RELAY_RATE ?? 200);
  const stamped = (channel: string): string => `SELECT pg_notify('${channel}', (extract(epoch from clock_timestamp()) * 1000)::text);`;
  // 1 consumer: what the relay adds; 80 in this one process: what the consumers' own CPU adds.
  for (const size of [1, 80]) {
    const latency: Record<string, { p50: number; p99: number; all: boolean; sent: number; least: number }> = {};
    for (const kind of ['direct', 'relay'] as const) {
      const channel = `bench_rate_${kind}_${size}_${tag}`;
      const counts = new Array<number>(size).fill(0);
      const delays: number[] = [];
      const onPayload = (i: number, payload: string): void => {
        counts[i]!++;
        delays.push(now() - Number(payload));
      };
      const consumers =
        kind === 'direct'
          ? await direct(url, channel, size, onPayload)
          : await relayed(url, `bench-${tag}-rate${size}`, channel, size, onPayload);
      const { transactions } = await pgbench(url, stamped(channel), ['--rate', String(rate)]);
      const deadline = Date.now() + 10_000;
      while (Math.min(...counts) < transactions && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      await consumers.close();
      delays.sort((a, b) => a - b);
      latency[kind] = {
        p50: percentile(delays, 50),
        p99: percentile(delays, 99),
        all: Math.min(...counts) === transactions,
        sent: transactions,
        least: Math.min(...counts),
      };
      console.log(
        `9. ${rate}/s to ${size} consumer(s) ${kind}: ${transactions} sent, every consumer got ${Math.min(...counts)}–${Math.max(...counts)}; p50 ${latency[kind].p50.toFixed(2)} ms, p99 ${latency[kind].p99.toFixed(2)} ms`,
      );
    }
    const d = latency.direct!;
    const r = latency.relay!;
    table.push({
      scenario: `9. ${rate}/s to ${size} consumer(s), latency p50 (p99): relay vs direct; all delivered: ${r.all ? 'yes' : `no (${r.least}/${r.sent})`} vs ${d.all ? 'yes' : `no (${d.least}/${d.sent})`}`,
      ours: `${r.p50.toFixed(2)} ms (${r.p99.toFixed(2)})`,
      baseline: `${d.p50.toFixed(2)} ms (${d.p99.toFixed(2)})`,
      ratio: Math.round((r.p50 - d.p50) * 100) / 100,
      target: 'p50 ≤ +2 ms',
      met: r.all && d.all && r.p50 - d.p50 <= 2,
    });
  }

  // 9c. Unthrottled into 80 relayed consumers: where it stops keeping up, and what they see.
  const channel = `bench_flood_${tag}`;
  const counts = new Array<number>(80).fill(0);
  const errors: string[] = [];
  const consumers = await relayed(
    url,
    `bench-${tag}-flood`,
    channel,
    80,
    (i) => counts[i]!++,
    (_i, error) => errors.push(error.message),
  );
  const { tps, transactions } = await pgbench(url, `SELECT pg_notify('${channel}', 'x');`);
  const deadline = Date.now() + 15_000;
  while (Math.min(...counts) < transactions && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  await consumers.close();
  console.log(
    `9. unthrottled to 80 relayed consumers: ${Math.round(tps).toLocaleString()} tps, ${transactions} sent, consumers got ${Math.min(...counts)}–${Math.max(...counts)}, errors$: ${errors.length} (${[...new Set(errors)].slice(0, 2).join('; ')})`,
  );
  table.push({
    scenario: '9. unthrottled, 80 relayed consumers: least received / sent (errors$ count)',
    ours: `${Math.min(...counts).toLocaleString()} / ${transactions.toLocaleString()} (${errors.length})`,
    baseline: `${Math.round(tps).toLocaleString()} tps`,
    ratio: Math.round((Math.min(...counts) / transactions) * 100) / 100,
    target: '(report)',
    met: null,
  });
}
