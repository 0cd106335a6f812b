// Scenario 7 of `npm run bench`: the design card's delivery path, in memory (no database), CPU ns
// per notification at 1, 10 and 100 consumers on one channel, side by side in this one run with
// the plain loop it replaced and with the card read literally (one RxJS Subscription per
// consumer on the delivery path, each an observer of the channel's shared multicast).
import { share, Subject, type SubjectLike } from 'rxjs';

import { MemorySource, Notifier } from '../src/index.js';
import { ArrayMulticast } from '../src/routing/array-multicast.js';

/** A row of bench/run.ts's table. */
export interface CardShapeRow {
  readonly scenario: string;
  readonly ours: string;
  readonly baseline: string;
  readonly ratio: number;
  readonly target: string;
  readonly met: boolean | null;
}

const PAYLOAD = '{"i":1,"total":250}';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU ns per notification of `deliver`, after a warm-up. */
function cpuPer(count: number, deliver: () => void): number {
  for (let i = 0; i < 20_000; i++) deliver();
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) deliver();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / count;
}

/** The loop this replaced: one parse, then every callback in one plain loop. */
function plainLoop(consumers: number, count: number): number {
  let hits = 0;
  const callbacks = Array.from({ length: consumers }, () => (_id: unknown, _channel: string, payload: unknown) => {
    if (payload !== undefined) hits++;
  });
  const ids = callbacks.map((_, i) => i);
  const ns = cpuPer(count, () => {
    const payload: unknown = JSON.parse(PAYLOAD);
    for (let i = 0; i < callbacks.length; i++) callbacks[i]!(ids[i], 'jobs', payload);
  });
  if (hits === 0) throw new Error('nothing delivered');
  return ns;
}

/** What ships: callback subscribers (a Subscription each as handle and lifetime), called in one loop. */
function cardCallbacks(consumers: number, count: number): number {
  const source = new MemorySource();
  const notifier = new Notifier(source);
  let hits = 0;
  for (let i = 0; i < consumers; i++) {
    void notifier.subscribe(i, 'jobs', (_id, _channel, payload) => {
      if (payload !== undefined) hits++;
    });
  }
  const ns = cpuPer(count, () => {
    source.deliver('jobs', PAYLOAD);
  });
  void notifier.close();
  if (hits === 0) throw new Error('nothing delivered');
  return ns;
}

/** The card read literally: each consumer an RxJS Subscription on the delivery path (channel$ observers). */
function cardObservers(consumers: number, count: number): number {
  const source = new MemorySource();
  const notifier = new Notifier(source);
  let hits = 0;
  for (let i = 0; i < consumers; i++) {
    notifier.channel$('jobs').subscribe((n) => {
      if (n.payload !== undefined) hits++;
    });
  }
  const ns = cpuPer(count, () => {
    source.deliver('jobs', PAYLOAD);
  });
  void notifier.close();
  if (hits === 0) throw new Error('nothing delivered');
  return ns;
}

/** CPU ns per value through `share({ connector })` to `observers` observers. */
function sharedThrough(connector: () => SubjectLike<number>, observers: number, count: number): number {
  const input = new Subject<number>();
  const shared = input.pipe(share({ connector }));
  let hits = 0;
  const subscriptions = Array.from({ length: observers }, () =>
    shared.subscribe((value) => {
      if (value >= 0) hits++;
    }),
  );
  const ns = cpuPer(count, () => {
    input.next(1);
  });
  for (const subscription of subscriptions) subscription.unsubscribe();
  if (hits === 0) throw new Error('nothing delivered');
  return ns;
}

/** The connector choice: RxJS's Subject against the ArrayMulticast the channels use, same run. */
export function connectorRows(runs: number): CardShapeRow[] {
  const rows: CardShapeRow[] = [];
  for (const observers of [1, 100]) {
    const count = observers === 100 ? 50_000 : 500_000;
    const rx: number[] = [];
    const fast: number[] = [];
    for (let run = 0; run < runs; run++) {
      rx.push(sharedThrough(() => new Subject<number>(), observers, count));
      fast.push(sharedThrough(() => new ArrayMulticast<number>(), observers, count));
    }
    console.log(
      `7. share connector, ${observers} observer(s): Subject ${median(rx).toFixed(0)} ns, ArrayMulticast ${median(fast).toFixed(0)} ns`,
    );
    rows.push({
      scenario: `7. share({ connector }), ${observers} observer(s): RxJS Subject vs ArrayMulticast`,
      ours: `${Math.round(median(rx))} ns`,
      baseline: `${Math.round(median(fast))} ns`,
      ratio: Math.round((median(rx) / median(fast)) * 100) / 100,
      target: '(report)',
      met: null,
    });
  }
  return rows;
}

/** Runs the scenario `runs` times and returns its rows (medians). */
export function cardShapeRows(runs: number): CardShapeRow[] {
  const rows: CardShapeRow[] = [];
  const measured: Record<string, Record<number, number>> = { loop: {}, callbacks: {}, observers: {} };
  for (const consumers of [1, 10, 100]) {
    const count = consumers === 100 ? 50_000 : 200_000;
    const loop: number[] = [];
    const callbacks: number[] = [];
    const observers: number[] = [];
    for (let run = 0; run < runs; run++) {
      loop.push(plainLoop(consumers, count));
      callbacks.push(cardCallbacks(consumers, count));
      observers.push(cardObservers(consumers, count));
    }
    measured.loop![consumers] = median(loop);
    measured.callbacks![consumers] = median(callbacks);
    measured.observers![consumers] = median(observers);
    console.log(
      `7. ${consumers} consumer(s): plain loop ${median(loop).toFixed(0)} ns, card callbacks ${median(callbacks).toFixed(0)} ns, ` +
        `card observers ${median(observers).toFixed(0)} ns  (runs: ${callbacks.map((x) => x.toFixed(0)).join(', ')} / ${observers.map((x) => x.toFixed(0)).join(', ')})`,
    );
    for (const [name, key] of [
      ['subscribe (card: Subscription as handle, one loop)', 'callbacks'],
      ['channel$ observers (a Subscription each)', 'observers'],
    ] as const) {
      const ours = measured[key]![consumers]!;
      const base = measured.loop![consumers];
      rows.push({
        scenario: `7. CPU/notification, ${consumers} × ${name} vs plain loop`,
        ours: `${Math.round(ours)} ns`,
        baseline: `${Math.round(base)} ns`,
        ratio: Math.round((ours / base) * 100) / 100,
        target: '(report)',
        met: null,
      });
    }
  }
  rows.push(...connectorRows(runs));
  for (const key of ['callbacks', 'observers'] as const) {
    const perExtra = (measured[key]![100]! - measured[key]![1]!) / 99;
    const base = (measured.loop![100]! - measured.loop![1]!) / 99;
    rows.push({
      scenario: `7. each extra ${key === 'callbacks' ? 'subscribe callback' : 'channel$ observer'} on a channel (ns CPU)`,
      ours: `${perExtra.toFixed(1)} ns`,
      baseline: `${base.toFixed(1)} ns`,
      ratio: Math.round((perExtra / Math.max(base, 0.1)) * 100) / 100,
      target: '≤ 40 ns',
      met: perExtra <= 40,
    });
  }
  return rows;
}
