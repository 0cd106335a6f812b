// The delivery path's hops one at a time, CPU ns per value (median of 7 runs of 1,000,000), for
// finding where a notification's cost goes. Not a scenario of `npm run bench` (no baseline, no
// target). Each hop is best measured in a process of its own, since RxJS's Subscriber code slows
// down as it sees more shapes:
//   for i in 0 1 2 3 4 5 6 7 8 9; do node --import tsx bench/hop-costs.ts $i; done
// With no argument, all of them run one after the other in one process.
import { BehaviorSubject, EMPTY, Observable, share, Subject, switchMap, type OperatorFunction } from 'rxjs';

import { ArrayMulticast } from '../src/routing/array-multicast.js';

const N = 1_000_000;
const only = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
let index = 0;
let hits = 0;
const sink = (value: unknown): void => {
  if (value !== undefined) hits++;
};

function measure(name: string, push: (value: number) => void): void {
  if (only !== undefined && index++ !== only) return;
  for (let i = 0; i < 50_000; i++) push(i);
  const runs: number[] = [];
  for (let run = 0; run < 7; run++) {
    const start = process.cpuUsage();
    for (let i = 0; i < N; i++) push(i);
    const used = process.cpuUsage(start);
    runs.push(((used.user + used.system) * 1000) / N);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(58)} ${runs[3]!.toFixed(1)} ns`);
}

const observe = <T>(multicast: ArrayMulticast<T>) => new Observable<T>((subscriber) => multicast.subscribe(subscriber));
// The parse step as it was before it moved into the switchMap's inner Observable: an operator.
const operatorHop =
  <T>(): OperatorFunction<T, T> =>
  (source) =>
    new Observable<T>((subscriber) =>
      source.subscribe({
        next: (value) => {
          subscriber.next(value);
        },
      }),
    );

const routes = new Map([
  ['jobs', 1],
  ['other', 2],
]);
const counters = { received: 0 };
measure('a direct call', sink);
measure('a notification object, then the call', (value) => {
  sink({ channel: 'jobs', payload: value, pid: 1 });
});
measure('route: a counter and a Map lookup, then the call', (value) => {
  counters.received++;
  sink(routes.get('jobs')! + value);
});
{
  const subject = new Subject<number>();
  subject.subscribe(sink);
  measure('Subject.next → Subscriber', (value) => {
    subject.next(value);
  });
}
{
  const multicast = new ArrayMulticast<number>();
  observe(multicast).subscribe(sink);
  measure('ArrayMulticast.next → Subscriber', (value) => {
    multicast.next(value);
  });
}
{
  const multicast = new ArrayMulticast<number>();
  multicast.subscribe({ next: sink });
  measure('ArrayMulticast.next → plain observer', (value) => {
    multicast.next(value);
  });
}
{
  const subject = new Subject<number>();
  new BehaviorSubject(false).pipe(switchMap((muted) => (muted ? EMPTY : subject))).subscribe(sink);
  measure('Subject → switchMap over a BehaviorSubject → Subscriber', (value) => {
    subject.next(value);
  });
}
{
  const subject = new Subject<number>();
  subject.pipe(operatorHop()).subscribe(sink);
  measure('Subject → an operator hop (the old parse) → Subscriber', (value) => {
    subject.next(value);
  });
}
{
  const subject = new Subject<number>();
  subject.pipe(share()).subscribe(sink);
  measure('Subject → share() (RxJS Subject) → Subscriber', (value) => {
    subject.next(value);
  });
}
{
  const subject = new Subject<number>();
  subject.pipe(share({ connector: () => new ArrayMulticast<number>() })).subscribe(sink);
  measure('Subject → share({ connector: ArrayMulticast }) → Subscriber', (value) => {
    subject.next(value);
  });
}
if (hits === 0) throw new Error('nothing delivered');
