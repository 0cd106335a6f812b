// npm run bench: each scenario measured side by side against its baseline in this one run, on
// this machine and this PostgreSQL (DATABASE_URL, or an embedded one). Writes bench/results.json.
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';

import pg from 'pg';

import type { EmbeddedServer } from '../scripts/embedded-postgres.mjs';
import { startPostgres } from '../scripts/embedded-postgres.mjs';
import { createSubscriber } from '../src/source/create-subscriber.js';
import { Notifier } from '../src/index.js';
import { cardShapeRows } from './card-shape.js';
import { durableScenario } from './durable.js';
import { relayScenario } from './relay.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
// `npm run bench -- 1 3` runs scenarios 1 and 3 only (and leaves bench/results.json alone).
const ONLY = new Set(process.argv.slice(2));
const wanted = (scenario: number): boolean => ONLY.size === 0 || ONLY.has(String(scenario));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Listener {
  /** Resolves once `count` notifications went through the consumer(s). */
  readonly until: (count: number) => Promise<void>;
  close(): Promise<void>;
}

let url = process.env.DATABASE_URL ?? '';
let sender: pg.Client;
/** The server this run started (none with DATABASE_URL): it must not outlive the run. */
let embedded: EmbeddedServer | undefined;
/** Where the run is, for the failure message. */
let stage = 'set-up';
let failed = false;

// count(...) makes each statement return one row, not 10,000: the sender's client runs in this
// process too, and parsing those rows would be counted as receiving cost on every side.
async function send(channel: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 10_000) {
    await sender.query(`SELECT count(pg_notify($1, '{"i":' || g || '}')) FROM generate_series($2::int, $3::int) AS g`, [
      channel,
      i,
      Math.min(i + 10_000, count) - 1,
    ]);
  }
}

function counter(): { seen: number; until: (count: number) => Promise<void>; hit: () => void } {
  let waiting: { count: number; resolve: () => void } | undefined;
  const state = {
    seen: 0,
    hit: () => {
      state.seen++;
      if (waiting !== undefined && state.seen >= waiting.count) {
        waiting.resolve();
        waiting = undefined;
      }
    },
    until: (count: number) => {
      return state.seen >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { count, resolve }));
    },
  };
  return state;
}

// ─── contenders ─────────────────────────────────────────────────────────────────────────────

/** The baselines' consumers: `count` plain functions, each counting what it is given. */
function plainFunctions(c: ReturnType<typeof counter>, count: number): ((payload: unknown) => void)[] {
  return Array.from({ length: count }, () => (payload: unknown) => {
    if (payload !== undefined) c.hit();
  });
}

async function rawPg(channel: string, extra: string[] = [], fanOut = 1): Promise<Listener> {
  const client = new pg.Client(url);
  await client.connect();
  const c = counter();
  const fns = plainFunctions(c, fanOut);
  client.on('notification', (n) => {
    const payload: unknown = JSON.parse(n.payload ?? '');
    for (const fn of fns) fn(payload);
  });
  for (const ch of [channel, ...extra]) await client.query(`LISTEN ${client.escapeIdentifier(ch)}`);
  return { until: c.until, close: () => client.end() };
}

// The floor for any adapter built on pg-listen (the design's transport): pg-listen's own parse and
// its per-channel emitter, with the same LISTENs and the same plain functions as the raw baseline.
async function pgListenAlone(channel: string, extra: string[] = [], fanOut = 1): Promise<Listener> {
  const subscriber = createSubscriber({ connectionString: url });
  subscriber.events.on('error', () => undefined);
  const c = counter();
  const fns = plainFunctions(c, fanOut);
  subscriber.notifications.on(channel, (payload: unknown) => {
    for (const fn of fns) fn(payload);
  });
  await subscriber.connect();
  for (const ch of [channel, ...extra]) await subscriber.listenTo(ch);
  return { until: c.until, close: () => subscriber.close() };
}

async function notifier(channel: string, mode: 'channel$' | 'subscribe', extra: string[] = [], fanOut = 1): Promise<Listener> {
  const n = new Notifier(url);
  const c = counter();
  if (mode === 'channel$') {
    n.channel$(channel).subscribe(() => {
      c.hit();
    });
  } else {
    for (let i = 0; i < fanOut; i++)
      await n.subscribe(
        i,
        channel,
        () => {
          c.hit();
        },
        { autorun: false },
      );
  }
  for (const [i, ch] of extra.entries()) {
    await n.subscribe(`extra${i}`, ch, () => undefined, { autorun: false });
    n.channel$(ch).subscribe();
  }
  await n.start();
  return { until: c.until, close: () => n.close() };
}

interface Measured {
  /** Notifications per second, wall clock, sender included. */
  readonly rate: number;
  /**
   * This process's CPU time per notification, in ns. The listener is the only busy thing in this
   * process (the sender's work happens in its server backend), so this is what receiving costs,
   * and it moves far less than the wall-clock rate when the server shares the 2 cores.
   */
  readonly cpuNs: number;
}

async function throughput(make: (channel: string) => Promise<Listener>, count: number, deliveriesPer = 1): Promise<Measured> {
  const channel = `bench_${Math.random().toString(36).slice(2)}`;
  const listener = await make(channel);
  // Collect the set-up's garbage now: a notifier registering 1,001 channels leaves far more of it
  // than a raw client, and its major GC would otherwise land inside the measured window.
  gc();
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await send(channel, count);
  await listener.until(count * deliveriesPer);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  await listener.close();
  return { rate: count / seconds, cpuNs: ((used.user + used.system) * 1000) / count };
}

async function compare(
  name: string,
  count: number,
  contenders: Record<string, (ch: string) => Promise<Listener>>,
  deliveries: Record<string, number> = {},
) {
  const results: Record<string, Measured[]> = {};
  // One discarded warm-up run each, so that no side is measured while V8 still compiles its path.
  for (const make of Object.values(contenders)) await throughput(make, Math.min(count, 50_000));
  for (let run = 0; run < RUNS; run++) {
    // Alternate the order so neither side always runs on a warmer server.
    const names = run % 2 === 0 ? Object.keys(contenders) : Object.keys(contenders).reverse();
    for (const key of names) {
      (results[key] ??= []).push(await throughput(contenders[key] as (ch: string) => Promise<Listener>, count, deliveries[key] ?? 1));
    }
  }
  const medians = Object.fromEntries(
    Object.entries(results).map(([k, v]) => [k, { rate: median(v.map((m) => m.rate)), cpuNs: median(v.map((m) => m.cpuNs)) }]),
  );
  console.log(`\n${name} (${count.toLocaleString()} notifications, median of ${RUNS})`);
  for (const [k, v] of Object.entries(medians)) {
    console.log(
      `  ${k.padEnd(34)} ${Math.round(v.rate).toLocaleString().padStart(10)} /s   ${Math.round(v.cpuNs).toLocaleString().padStart(6)} ns CPU each`,
    );
  }
  return medians;
}

async function latency(make: (ch: string) => Promise<Listener>, rounds: number): Promise<{ p50: number; p99: number }> {
  const channel = `lat_${Math.random().toString(36).slice(2)}`;
  const listener = await make(channel);
  const samples: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    const start = process.hrtime.bigint();
    await sender.query(`SELECT pg_notify($1, '{"i":1}')`, [channel]);
    await listener.until(i);
    samples.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  await listener.close();
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(rounds * 0.5)]!, p99: samples[Math.floor(rounds * 0.99)]! };
}

async function registry(size: number): Promise<{ registerMs: number; startMs: number }> {
  const n = new Notifier(url);
  const t0 = performance.now();
  for (let i = 0; i < size; i++) void n.subscribe(i, `reg_${size}_${i}`, () => undefined, { autorun: false });
  const registerMs = performance.now() - t0;
  const t1 = performance.now();
  await n.start();
  const startMs = performance.now() - t1;
  if (n.activeChannels().length !== size) throw new Error('not all LISTENed');
  await n.close();
  return { registerMs, startMs };
}

async function rawListens(size: number): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  const t = performance.now();
  for (let i = 0; i < size; i++) await client.query(`LISTEN ${client.escapeIdentifier(`raw_${size}_${i}`)}`);
  const ms = performance.now() - t;
  await client.end();
  return ms;
}

function memory(): { heap: number; rss: number } {
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  return { heap: heapUsed, rss };
}

// ─── main ───────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  if (url === '') {
    embedded = await startPostgres();
    url = embedded.url;
  }
  sender = new pg.Client(url);
  await sender.connect();
  const { rows } = await sender.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL ${rows[0]?.v ?? '?'}${embedded ? ' (embedded)' : ''}`;
  console.log(`pgnotifier benchmark on ${machine}`);
  const table: { scenario: string; ours: string; baseline: string; ratio: number; target: string; met: boolean | null }[] = [];
  // A ratio against the baseline; `target` null marks a reference row (pg-listen alone), no target.
  const row = (scenario: string, ours: number, base: number, unit: string, target: number | null) => {
    const ratio = ours / base;
    table.push({
      scenario,
      ours: `${Math.round(ours).toLocaleString()} ${unit}`,
      baseline: `${Math.round(base).toLocaleString()} ${unit}`,
      ratio: Math.round(ratio * 100) / 100,
      target: target === null ? '(reference)' : `≥ ${target}`,
      met: target === null ? null : ratio >= target,
    });
  };

  // What each notification costs this process, beside the baseline's cost (informational).
  const cpuRow = (scenario: string, ours: Measured, base: Measured) => {
    table.push({
      scenario,
      ours: `${Math.round(ours.cpuNs).toLocaleString()} ns`,
      baseline: `${Math.round(base.cpuNs).toLocaleString()} ns`,
      ratio: Math.round((ours.cpuNs / base.cpuNs) * 100) / 100,
      target: '(report)',
      met: null,
    });
  };

  // 1. Throughput.
  const scenario1 = async (): Promise<void> => {
    const t1 = await compare('1. throughput, one channel, one consumer', 200_000, {
      'raw pg + JSON.parse': (ch) => rawPg(ch),
      'pg-listen alone': (ch) => pgListenAlone(ch),
      'notifier channel$': (ch) => notifier(ch, 'channel$'),
      'notifier subscribe': (ch) => notifier(ch, 'subscribe'),
    });
    row('1. throughput via channel$', t1['notifier channel$']!.rate, t1['raw pg + JSON.parse']!.rate, '/s', 0.85);
    row('1. throughput via subscribe', t1['notifier subscribe']!.rate, t1['raw pg + JSON.parse']!.rate, '/s', 0.85);
    row('1. (pg-listen alone)', t1['pg-listen alone']!.rate, t1['raw pg + JSON.parse']!.rate, '/s', null);
    // The card's transport is pg-listen: against it, with the same JSON.parse, the card's shape costs ≤ 10 %.
    row('1. channel$ vs pg-listen alone', t1['notifier channel$']!.rate, t1['pg-listen alone']!.rate, '/s', 0.9);
    row('1. subscribe vs pg-listen alone', t1['notifier subscribe']!.rate, t1['pg-listen alone']!.rate, '/s', 0.9);
    cpuRow('1. CPU per notification, channel$', t1['notifier channel$']!, t1['raw pg + JSON.parse']!);
    cpuRow('1. CPU per notification, subscribe', t1['notifier subscribe']!, t1['raw pg + JSON.parse']!);
    cpuRow('1. CPU per notification, pg-listen alone', t1['pg-listen alone']!, t1['raw pg + JSON.parse']!);
  };

  // 2. Routing with 1,000 other channels LISTENed and subscribed.
  const scenario2 = async (): Promise<void> => {
    const others = Array.from({ length: 1000 }, (_, i) => `other_${i}`);
    const t2 = await compare('2. routing, 1,000 other channels LISTENed', 200_000, {
      'raw pg, 1,001 LISTENs': (ch) => rawPg(ch, others),
      'pg-listen alone, 1,001 LISTENs': (ch) => pgListenAlone(ch, others),
      'notifier, 1,001 channels': (ch) => notifier(ch, 'subscribe', others),
      'notifier, 1 channel': (ch) => notifier(ch, 'subscribe'),
    });
    row('2. routing with 1,000 other channels', t2['notifier, 1,001 channels']!.rate, t2['raw pg, 1,001 LISTENs']!.rate, '/s', 0.9);
    // O(1) routing: the same notifier with 1,000 more channels loses ≤ 5 %.
    row('2. 1,001 channels vs 1 channel, same notifier', t2['notifier, 1,001 channels']!.rate, t2['notifier, 1 channel']!.rate, '/s', 0.95);
    row('2. (pg-listen alone, 1,001 LISTENs)', t2['pg-listen alone, 1,001 LISTENs']!.rate, t2['raw pg, 1,001 LISTENs']!.rate, '/s', null);
    cpuRow('2. CPU per notification, 1,001 channels', t2['notifier, 1,001 channels']!, t2['raw pg, 1,001 LISTENs']!);
  };

  // 3. Fan-out to 100 callbacks.
  const scenario3 = async (): Promise<void> => {
    const t3 = await compare(
      '3. fan-out, 100 callbacks',
      100_000,
      {
        'raw pg, parse once, 100 functions': (ch) => rawPg(ch, [], 100),
        'pg-listen alone, 100 functions': (ch) => pgListenAlone(ch, [], 100),
        'notifier, 100 subscribers': (ch) => notifier(ch, 'subscribe', [], 100),
      },
      { 'raw pg, parse once, 100 functions': 100, 'pg-listen alone, 100 functions': 100, 'notifier, 100 subscribers': 100 },
    );
    row(
      '3. fan-out deliveries (×100)',
      t3['notifier, 100 subscribers']!.rate * 100,
      t3['raw pg, parse once, 100 functions']!.rate * 100,
      '/s',
      0.8,
    );
    row(
      '3. (pg-listen alone, 100 functions)',
      t3['pg-listen alone, 100 functions']!.rate * 100,
      t3['raw pg, parse once, 100 functions']!.rate * 100,
      '/s',
      null,
    );
    cpuRow('3. CPU per notification, 100 callbacks', t3['notifier, 100 subscribers']!, t3['raw pg, parse once, 100 functions']!);
  };

  // 4. Latency.
  const scenario4 = async (): Promise<void> => {
    // Warm both paths up first: whichever runs first otherwise pays for the server's cold caches.
    await latency((ch) => rawPg(ch), 200);
    await latency((ch) => notifier(ch, 'subscribe'), 200);
    const base4 = await latency((ch) => rawPg(ch), 2000);
    const ours4 = await latency((ch) => notifier(ch, 'subscribe'), 2000);
    console.log(
      `\n4. ping latency over 2,000 round trips: raw p50 ${base4.p50.toFixed(0)} µs p99 ${base4.p99.toFixed(0)} µs; notifier p50 ${ours4.p50.toFixed(0)} µs p99 ${ours4.p99.toFixed(0)} µs`,
    );
    table.push({
      scenario: '4. ping latency p50 (added µs)',
      ours: `${ours4.p50.toFixed(0)} µs (p99 ${ours4.p99.toFixed(0)})`,
      baseline: `${base4.p50.toFixed(0)} µs (p99 ${base4.p99.toFixed(0)})`,
      ratio: Math.round((ours4.p50 - base4.p50) * 10) / 10,
      target: '≤ 50 µs added',
      met: ours4.p50 - base4.p50 <= 50,
    });
  };

  // 5. Registry scale.
  const scenario5 = async (): Promise<void> => {
    // A discarded warm-up, so that the 10,000 run does not also pay for compiling the code
    // (which would flatter the 20,000 / 10,000 ratio).
    await registry(2_000);
    const r10 = await registry(10_000);
    const r20 = await registry(20_000);
    const raw10 = await rawListens(10_000);
    const raw20 = await rawListens(20_000);
    console.log(
      `\n5. register 10,000: ${r10.registerMs.toFixed(0)} ms, 20,000: ${r20.registerMs.toFixed(0)} ms; start() LISTENs 10,000 in ${r10.startMs.toFixed(0)} ms (raw ${raw10.toFixed(0)} ms), 20,000 in ${r20.startMs.toFixed(0)} ms (raw ${raw20.toFixed(0)} ms)`,
    );
    table.push({
      scenario: '5. register 20,000 / 10,000 (autorun false)',
      ours: `${r20.registerMs.toFixed(0)} ms`,
      baseline: `${r10.registerMs.toFixed(0)} ms`,
      ratio: Math.round((r20.registerMs / r10.registerMs) * 100) / 100,
      target: '≤ 2.5',
      met: r20.registerMs / r10.registerMs <= 2.5,
    });
    // Reported, no target: PostgreSQL's own LISTEN cost grows with the session's LISTEN list.
    table.push({
      scenario: '5. start() LISTEN 20,000 vs raw client',
      ours: `${Math.round(r20.startMs).toLocaleString()} ms`,
      baseline: `${Math.round(raw20).toLocaleString()} ms`,
      ratio: Math.round((r20.startMs / raw20) * 100) / 100,
      target: '(report)',
      met: null,
    });
  };

  // 6. Memory.
  const scenario6 = async (): Promise<void> => {
    const n = new Notifier(url);
    const c = counter();
    n.channel$('mem').subscribe(() => {
      c.hit();
    });
    await n.subscribe('mem', 'mem', () => undefined);
    await send('mem', 10_000);
    await c.until(10_000);
    const before = memory();
    await send('mem', 1_000_000);
    await c.until(1_010_000);
    const afterTraffic = memory();
    for (let i = 0; i < 100_000; i++) {
      void n.subscribe(i % 100, `cycle_${i % 1000}`, () => undefined, { autorun: false });
      void n.unsubscribe(i % 100, `cycle_${i % 1000}`, { autorun: false });
    }
    await n.removeChannels(
      Array.from({ length: 1000 }, (_, i) => `cycle_${i}`),
      { autorun: false },
    );
    const afterCycles = memory();
    const m0 = memory();
    for (let i = 0; i < 10_000; i++) void n.subscribe(i, `per_${i}`, () => undefined, { autorun: false });
    const m1 = memory();
    await n.close();
    const mb = (x: number) => Math.round((x / 2 ** 20) * 10) / 10;
    const growth = Math.max(afterTraffic.heap - before.heap, afterCycles.heap - before.heap);
    const rssGrowth = Math.max(afterTraffic.rss - before.rss, afterCycles.rss - before.rss);
    const perChannel = (m1.heap - m0.heap) / 10_000;
    console.log(
      `\n6. memory: heap +${mb(afterTraffic.heap - before.heap)} MB after 1,000,000 notifications, +${mb(afterCycles.heap - before.heap)} MB after 100,000 subscribe/unsubscribe cycles (RSS +${mb(rssGrowth)} MB); ${Math.round(perChannel)} bytes per channel with one subscriber`,
    );
    table.push({
      scenario: '6. heap growth (1M notifications, 100k cycles)',
      ours: `${mb(growth)} MB (RSS ${mb(rssGrowth)} MB)`,
      baseline: `${Math.round(perChannel)} B/channel+subscriber`,
      ratio: mb(growth),
      target: '< 10 MB',
      met: growth < 10 * 2 ** 20,
    });
  };

  const scenario7 = async (): Promise<void> => {
    table.push(...cardShapeRows(Math.min(RUNS, 3)));
    await Promise.resolve();
  };

  const scenario8 = () => durableScenario(url, table);
  const scenario9 = () => relayScenario(url, table);
  for (const [n, scenario] of [
    scenario1,
    scenario2,
    scenario3,
    scenario4,
    scenario5,
    scenario6,
    scenario7,
    scenario8,
    scenario9,
  ].entries()) {
    if (!wanted(n + 1)) continue;
    stage = `scenario ${n + 1}`;
    await scenario();
  }
  stage = 'the summary';

  console.log('\n| scenario | pgnotifier | baseline | ratio | target | met |\n|---|---|---|---|---|---|');
  for (const r of table)
    console.log(`| ${r.scenario} | ${r.ours} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.met === null ? '' : r.met ? 'yes' : 'no'} |`);
  // `failed`: an error elsewhere (an unhandled rejection) can land while this run still goes on.
  if (ONLY.size === 0 && !failed) {
    await writeFile(
      new URL('./results.json', import.meta.url),
      `${JSON.stringify({ machine, runs: RUNS, date: new Date().toISOString(), table }, null, 2)}\n`,
    );
  } else {
    console.log('\n(partial run: bench/results.json left as it was)');
  }
  await sender.end();
  await embedded?.destroy();
}

/**
 * Ends the run at its first error, whichever way it comes. A scenario that throws cannot close
 * what it opened (its clients, pools, notifiers are its locals), and those sockets, with the
 * embedded server's child process, would keep Node alive for ever, the server with it. So: say
 * where it failed, stop the server this run started, and exit 1 without waiting for the rest.
 * What follows the first error (the orphaned clients losing their server) is not reported.
 */
async function fail(error: unknown): Promise<void> {
  if (failed) return;
  failed = true;
  console.error(`\nbench: ${stage} failed:`);
  console.error(error);
  // Bounded, so a server that will not stop cannot hold the exit; the timer is not unref()ed, or
  // an empty event loop would run embedded-postgres's beforeExit hook, which exits with code 0.
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([embedded?.destroy(), new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
  } catch (cleanUpError) {
    console.error('bench: stopping the embedded PostgreSQL failed too:', cleanUpError);
  } finally {
    clearTimeout(timer);
    process.exit(1);
  }
}

process.on('uncaughtException', (error) => void fail(error));
process.on('unhandledRejection', (reason) => void fail(reason));
main().catch(fail);
