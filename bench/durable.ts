// Scenario 8 of npm run bench: durable channels against plain NOTIFY, in the same run.
import pg from 'pg';

import { durableSchemaSql, Notifier, PgDurableSource } from '../src/index.js';

/** A row of bench/run.ts's table. */
export interface BenchRow {
  scenario: string;
  ours: string;
  baseline: string;
  ratio: number;
  target: string;
  met: boolean | null;
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Resolves once `count` hits were seen. */
function counter(): { hit: () => void; until: (count: number) => Promise<void>; seen: () => number } {
  let seen = 0;
  let waiting: { count: number; resolve: () => void } | undefined;
  return {
    hit: () => {
      seen++;
      if (waiting !== undefined && seen >= waiting.count) {
        waiting.resolve();
        waiting = undefined;
      }
    },
    until: (count) => (seen >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { count, resolve }))),
    seen: () => seen,
  };
}

/** A durable reader: a notifier's durable channel$ (woken on its own listening connection). */
async function durableReader(url: string, schema: string, channel: string, onMessage: () => void) {
  const notifier = new Notifier(url, { parse: 'raw', durable: { schema } });
  const subscription = notifier.channel$(channel, { durable: true }).subscribe(onMessage);
  // Its start is known once its position shows: what is published after that reaches it.
  while (notifier.status().durable?.readers[0]?.cursor === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  await notifier.synced();
  return {
    close: async () => {
      subscription.unsubscribe();
      await notifier.close();
    },
  };
}

export async function durableScenario(url: string, table: BenchRow[]): Promise<void> {
  const schema = `bench_durable_${Math.random().toString(36).slice(2, 8)}`;
  const sender = new pg.Client(url);
  await sender.connect();
  await sender.query(durableSchemaSql(schema));
  const publish = `"${schema}".publish`;
  const COUNT = 100_000;
  // One publisher connection, batching: 10,000 messages per statement, as the plain side sends.
  const sendPlain = async (channel: string, count: number) => {
    for (let i = 0; i < count; i += 10_000) {
      await sender.query(`SELECT count(pg_notify($1, '{"i":' || g || '}')) FROM generate_series($2::int, $3::int) AS g`, [
        channel,
        i,
        Math.min(i + 10_000, count) - 1,
      ]);
    }
  };
  const sendDurable = async (channel: string, count: number) => {
    for (let i = 0; i < count; i += 10_000) {
      await sender.query(`SELECT count(${publish}($1, '{"i":' || g || '}')) FROM generate_series($2::int, $3::int) AS g`, [
        channel,
        i,
        Math.min(i + 10_000, count) - 1,
      ]);
    }
  };

  const plainThroughput = async (count: number) => {
    const channel = `bench_plain_${Math.random().toString(36).slice(2)}`;
    const client = new pg.Client(url);
    await client.connect();
    const c = counter();
    client.on('notification', (n) => {
      if (JSON.parse(n.payload ?? '') !== undefined) c.hit();
    });
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    const t = performance.now();
    await sendPlain(channel, count);
    await c.until(count);
    const rate = count / ((performance.now() - t) / 1000);
    await client.end();
    return rate;
  };
  const durableThroughput = async (count: number) => {
    const channel = `bench_durable_${Math.random().toString(36).slice(2)}`;
    const c = counter();
    const reader = await durableReader(url, schema, channel, c.hit);
    const t = performance.now();
    await sendDurable(channel, count);
    await c.until(count);
    const rate = count / ((performance.now() - t) / 1000);
    await reader.close();
    return rate;
  };

  // Warm-ups, then alternate the order over three runs each and keep the medians.
  await plainThroughput(20_000);
  await durableThroughput(20_000);
  const plainRates: number[] = [];
  const durableRates: number[] = [];
  for (let run = 0; run < 3; run++) {
    if (run % 2 === 0) {
      plainRates.push(await plainThroughput(COUNT));
      durableRates.push(await durableThroughput(COUNT));
    } else {
      durableRates.push(await durableThroughput(COUNT));
      plainRates.push(await plainThroughput(COUNT));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const plainRate = median(plainRates);
  const durableRate = median(durableRates);
  console.log(
    `\n8. durable throughput (${COUNT.toLocaleString()} messages, one batching publisher, one reader, median of 3): ` +
      `durable ${Math.round(durableRate).toLocaleString()} /s, plain NOTIFY ${Math.round(plainRate).toLocaleString()} /s`,
  );
  table.push({
    scenario: '8. durable throughput vs plain NOTIFY',
    ours: `${Math.round(durableRate).toLocaleString()} /s`,
    baseline: `${Math.round(plainRate).toLocaleString()} /s`,
    ratio: Math.round((durableRate / plainRate) * 100) / 100,
    target: '≥ 0.25',
    met: durableRate / plainRate >= 0.25,
  });

  // End-to-end latency: from sending the statement to the message in the reader's hands.
  const ROUNDS = 1000;
  const percentiles = (samples: number[]) => {
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor(samples.length * 0.5)] ?? 0, p99: samples[Math.floor(samples.length * 0.99)] ?? 0 };
  };
  const plainLatency = async () => {
    const channel = `lat_plain_${Math.random().toString(36).slice(2)}`;
    const client = new pg.Client(url);
    await client.connect();
    const c = counter();
    client.on('notification', c.hit);
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    const samples: number[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const t = performance.now();
      await sender.query(`SELECT pg_notify($1, '{"i":1}')`, [channel]);
      await c.until(i);
      samples.push(performance.now() - t);
    }
    await client.end();
    return percentiles(samples);
  };
  const durableLatency = async (publisher: pg.Client) => {
    const channel = `lat_durable_${Math.random().toString(36).slice(2)}`;
    const c = counter();
    const reader = await durableReader(url, schema, channel, c.hit);
    const samples: number[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const t = performance.now();
      await publisher.query(`SELECT ${publish}($1, '{"i":1}')`, [channel]);
      await c.until(i);
      samples.push(performance.now() - t);
    }
    await reader.close();
    return percentiles(samples);
  };
  // Plain NOTIFY writes no WAL; a durable publish commits a row and waits for its WAL flush. The
  // same publish with synchronous_commit off shows what the reading path itself adds.
  const unflushed = new pg.Client(url);
  await unflushed.connect();
  await unflushed.query('SET synchronous_commit = off');
  await plainLatency();
  await durableLatency(sender);
  const plainLat = await plainLatency();
  const durableLat = await durableLatency(sender);
  const unflushedLat = await durableLatency(unflushed);
  await unflushed.end();
  console.log(
    `\n8. end-to-end latency over ${ROUNDS} messages: plain p50 ${plainLat.p50.toFixed(2)} ms p99 ${plainLat.p99.toFixed(2)} ms; ` +
      `durable p50 ${durableLat.p50.toFixed(2)} ms p99 ${durableLat.p99.toFixed(2)} ms; ` +
      `durable, publisher with synchronous_commit off: p50 ${unflushedLat.p50.toFixed(2)} ms p99 ${unflushedLat.p99.toFixed(2)} ms`,
  );
  table.push({
    scenario: '8. durable latency p50 (added ms)',
    ours: `${durableLat.p50.toFixed(2)} ms (p99 ${durableLat.p99.toFixed(2)})`,
    baseline: `${plainLat.p50.toFixed(2)} ms (p99 ${plainLat.p99.toFixed(2)})`,
    ratio: Math.round((durableLat.p50 - plainLat.p50) * 100) / 100,
    target: '≤ 2 ms added',
    met: durableLat.p50 - plainLat.p50 <= 2,
  });
  table.push({
    scenario: '8. (durable latency, synchronous_commit off)',
    ours: `${unflushedLat.p50.toFixed(2)} ms (p99 ${unflushedLat.p99.toFixed(2)})`,
    baseline: `${plainLat.p50.toFixed(2)} ms (p99 ${plainLat.p99.toFixed(2)})`,
    ratio: Math.round((unflushedLat.p50 - plainLat.p50) * 100) / 100,
    target: '(reference)',
    met: null,
  });

  // Memory while catching up a backlog of 1,000,000 messages published while nobody read.
  const BACKLOG = 1_000_000;
  const channel = `backlog_${Math.random().toString(36).slice(2)}`;
  const source = new PgDurableSource(url, { schema });
  const after = await source.now();
  const t0 = performance.now();
  await sendDurable(channel, BACKLOG);
  const publishSeconds = (performance.now() - t0) / 1000;
  const before = heap();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 50);
  const c = counter();
  const t1 = performance.now();
  const subscription = source.read(channel, { after }).subscribe(c.hit);
  await c.until(BACKLOG);
  const catchUpSeconds = (performance.now() - t1) / 1000;
  clearInterval(sampler);
  subscription.unsubscribe();
  const afterHeap = heap();
  await source.close();
  console.log(
    `\n8. backlog of ${BACKLOG.toLocaleString()}: published in ${publishSeconds.toFixed(1)} s, caught up in ${catchUpSeconds.toFixed(1)} s ` +
      `(${Math.round(BACKLOG / catchUpSeconds).toLocaleString()} /s); heap before ${mb(before)} MB, peak ${mb(peak)} MB (unforced GC), after ${mb(afterHeap)} MB`,
  );
  table.push({
    scenario: '8. heap while catching up 1,000,000 durable',
    ours: `+${mb(afterHeap - before)} MB after (peak ${mb(peak)} MB)`,
    baseline: `${mb(before)} MB before`,
    ratio: mb(afterHeap - before),
    target: '< 10 MB',
    met: afterHeap - before < 10 * 2 ** 20,
  });

  await sender.query(`DROP SCHEMA "${schema}" CASCADE`);
  await sender.end();
}
