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
async function durableReader(url: string, schema: string, channel: string, onMessage: (n: { payload: unknown }) => void) {
  const notifier = new Notifier(url, { durable: { schema } });
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
  // The durable publisher: publishMany on a source of one connection (what notifier.publishMany does).
  const publisher = new PgDurableSource(url, { schema, poolSize: 1 });
  const COUNT = 100_000;
  const BATCH = 10_000;
  // Both sides send the same payload texts from this process, 10,000 per statement on one
  // connection: the plain side as pg_notify over the array, the durable side as publish_many.
  const batches = (count: number) => {
    const out: string[][] = [];
    for (let i = 0; i < count; i += BATCH) out.push(Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => `{"i":${i + k}}`));
    return out;
  };
  const prepared = batches(COUNT);
  const sendPlain = async (channel: string, texts: string[][]) => {
    for (const batch of texts) await sender.query('SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p', [channel, batch]);
  };
  const sendDurable = async (channel: string, texts: string[][]) => {
    for (const batch of texts) await publisher.publishMany(channel, batch);
  };
  // The previous way (reference): publish() once per row, 10,000 calls per statement.
  const sendDurablePerRow = async (channel: string, texts: string[][]) => {
    for (const batch of texts) await sender.query(`SELECT count(${publish}($1, p)) FROM unnest($2::text[]) AS p`, [channel, batch]);
  };

  const plainThroughput = async (texts: string[][]) => {
    const count = texts.reduce((n, b) => n + b.length, 0);
    const channel = `bench_plain_${Math.random().toString(36).slice(2)}`;
    const client = new pg.Client(url);
    await client.connect();
    const c = counter();
    client.on('notification', (n) => {
      if (JSON.parse(n.payload ?? '') !== undefined) c.hit();
    });
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    const t = performance.now();
    await sendPlain(channel, texts);
    await c.until(count);
    const rate = count / ((performance.now() - t) / 1000);
    await client.end();
    return rate;
  };
  let lastSentShare = 0;
  // Delivery counted the same way: each message parsed (JSON) in the reader's hands.
  const durableThroughput = async (texts: string[][], send = sendDurable) => {
    const count = texts.reduce((n, b) => n + b.length, 0);
    const channel = `bench_durable_${Math.random().toString(36).slice(2)}`;
    const c = counter();
    const reader = await durableReader(url, schema, channel, (n) => {
      if (n.payload !== undefined) c.hit();
    });
    const t = performance.now();
    await send(channel, texts);
    const sent = performance.now() - t;
    await c.until(count);
    const rate = count / ((performance.now() - t) / 1000);
    // How much of the time the publisher itself took: near 1, publishing is the limit, not reading.
    lastSentShare = sent / (performance.now() - t);
    await reader.close();
    return rate;
  };

  // Warm-ups, then alternate the order over the runs and keep the medians.
  const RUNS = Number(process.env.BENCH_DURABLE_RUNS ?? 3);
  const warmUp = batches(20_000);
  await plainThroughput(warmUp);
  await durableThroughput(warmUp);
  await durableThroughput(warmUp, sendDurablePerRow);
  const plainRates: number[] = [];
  const durableRates: number[] = [];
  const perRowRates: number[] = [];
  const sentShares: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const sides = [
      async () => plainRates.push(await plainThroughput(prepared)),
      async () => {
        durableRates.push(await durableThroughput(prepared));
        sentShares.push(lastSentShare);
      },
      async () => perRowRates.push(await durableThroughput(prepared, sendDurablePerRow)),
    ];
    for (const side of run % 2 === 0 ? sides : sides.reverse()) await side();
    console.log(
      `   run ${run + 1}: plain ${Math.round(plainRates[run]!).toLocaleString()} /s, publish_many ${Math.round(durableRates[run]!).toLocaleString()} /s ` +
        `(${(durableRates[run]! / plainRates[run]!).toFixed(2)}; publishing took ${Math.round(sentShares[run]! * 100)} % of it), publish per row ${Math.round(perRowRates[run]!).toLocaleString()} /s`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const plainRate = median(plainRates);
  const durableRate = median(durableRates);
  const perRowRate = median(perRowRates);
  console.log(
    `\n8. durable throughput (${COUNT.toLocaleString()} messages, one batching publisher, one reader, median of ${RUNS}): ` +
      `durable publish_many ${Math.round(durableRate).toLocaleString()} /s, plain NOTIFY ${Math.round(plainRate).toLocaleString()} /s, ` +
      `durable publish() per row ${Math.round(perRowRate).toLocaleString()} /s`,
  );
  table.push({
    scenario: '8. durable throughput (publish_many) vs plain NOTIFY',
    ours: `${Math.round(durableRate).toLocaleString()} /s`,
    baseline: `${Math.round(plainRate).toLocaleString()} /s`,
    ratio: Math.round((durableRate / plainRate) * 100) / 100,
    target: '≥ 0.25',
    met: durableRate / plainRate >= 0.25,
  });
  table.push({
    scenario: '8. (durable throughput, publish() per row)',
    ours: `${Math.round(perRowRate).toLocaleString()} /s`,
    baseline: `${Math.round(plainRate).toLocaleString()} /s`,
    ratio: Math.round((perRowRate / plainRate) * 100) / 100,
    target: '(reference)',
    met: null,
  });

  // Why: the server's CPU per 10,000 messages, as the backend itself counts it (log_executor_stats,
  // which needs a superuser; skipped otherwise), for the plain and the durable statement alike.
  const serverCpu = await serverCpuPer10k(sender, channelFor(schema), prepared[0]!);
  if (serverCpu !== undefined) {
    console.log(
      `\n8. server CPU per 10,000 messages (median of 10): pg_notify ${serverCpu.notify.toFixed(1)} ms, ` +
        `publish_many ${serverCpu.publishMany.toFixed(1)} ms, publish() per row ${serverCpu.perRow.toFixed(1)} ms`,
    );
    table.push({
      scenario: '8. (server CPU per 10,000: publish_many / pg_notify)',
      ours: `${serverCpu.publishMany.toFixed(1)} ms`,
      baseline: `${serverCpu.notify.toFixed(1)} ms`,
      ratio: Math.round((serverCpu.publishMany / serverCpu.notify) * 10) / 10,
      target: '(reference)',
      met: null,
    });
  }

  // BENCH_DURABLE_THROUGHPUT_ONLY=1 stops here (to measure a change to the publishing path quickly).
  if (process.env.BENCH_DURABLE_THROUGHPUT_ONLY === '1') {
    await publisher.close();
    await sender.query(`DROP SCHEMA "${schema}" CASCADE`);
    await sender.end();
    return;
  }

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
  for (let i = 0; i < BACKLOG; i += COUNT) await sendDurable(channel, batches(COUNT));
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

  await publisher.close();
  await sender.query(`DROP SCHEMA "${schema}" CASCADE`);
  await sender.end();
}

function channelFor(schema: string): { schema: string; channel: string } {
  return { schema, channel: `cpu_${Math.random().toString(36).slice(2)}` };
}

/** The median backend CPU (user + system) of each statement over 10 rounds, or undefined without the rights. */
async function serverCpuPer10k(
  client: pg.Client,
  { schema, channel }: { schema: string; channel: string },
  texts: string[],
): Promise<{ notify: number; publishMany: number; perRow: number } | undefined> {
  let cpu: number;
  const onNotice = (notice: { message?: string | undefined; detail?: string | undefined }) => {
    const m = /([\d.]+) s user, ([\d.]+) s system/.exec(`${notice.detail ?? ''} ${notice.message ?? ''}`);
    if (m !== null) cpu = (Number(m[1]) + Number(m[2])) * 1000;
  };
  try {
    await client.query('SET log_executor_stats = on');
  } catch {
    return undefined;
  }
  client.on('notice', onNotice);
  await client.query('SET client_min_messages = log');
  const statements = {
    notify: 'SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p',
    publishMany: `SELECT array_to_string("${schema}".publish_many($1, $2::text[]), ',')`,
    perRow: `SELECT count("${schema}".publish($1, p)) FROM unnest($2::text[]) AS p`,
  };
  const samples: Record<keyof typeof statements, number[]> = { notify: [], publishMany: [], perRow: [] };
  try {
    for (let round = 0; round < 10; round++) {
      for (const key of Object.keys(statements) as (keyof typeof statements)[]) {
        cpu = Number.NaN;
        await client.query(statements[key], [channel, texts]);
        samples[key].push(cpu);
      }
    }
  } finally {
    client.off('notice', onNotice);
    await client.query('RESET client_min_messages; RESET log_executor_stats');
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  return { notify: median(samples.notify), publishMany: median(samples.publishMany), perRow: median(samples.perRow) };
}
