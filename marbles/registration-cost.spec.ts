import { List, Map as ImmutableMap, OrderedMap, OrderedSet, Set as ImmutableSet } from 'immutable';

import { MemorySource, Notifier } from '../src/index.js';

/**
 * Counts the elements the registry's Immutable collections visit (every iteration: some, map,
 * values, spreads), so the cost of registering is measured in work rather than time.
 */
function countVisits(run: () => void): number {
  let visits = 0;
  const prototypes = [OrderedMap(), ImmutableMap(), OrderedSet(), ImmutableSet(), List()].map(
    (value) => Object.getPrototypeOf(value) as Record<string, unknown>,
  );
  const saved = prototypes.map((proto) => ({ proto, iterate: proto.__iterate, iterator: proto.__iterator }));
  for (const { proto, iterate, iterator } of saved) {
    proto.__iterate = function (this: unknown, fn: (...args: unknown[]) => unknown, reverse: boolean) {
      return (iterate as (...args: unknown[]) => unknown).call(
        this,
        (...args: unknown[]) => {
          visits++;
          return fn(...args);
        },
        reverse,
      );
    };
    proto.__iterator = function (this: unknown, type: number, reverse: boolean) {
      const inner = (iterator as (...args: unknown[]) => { next: () => unknown }).call(this, type, reverse);
      const next = inner.next.bind(inner);
      inner.next = () => {
        visits++;
        return next();
      };
      return inner;
    };
  }
  try {
    run();
  } finally {
    for (const { proto, iterate, iterator } of saved) {
      proto.__iterate = iterate;
      proto.__iterator = iterator;
    }
  }
  return visits;
}

/** Work done by registering `count` subscribers and `count` observers on one channel, then removing them. */
function registrationWork(count: number): number {
  const notifier = new Notifier(new MemorySource());
  return countVisits(() => {
    const observers = [];
    for (let i = 0; i < count; i++) {
      void notifier.subscribe(i, 'shared', () => undefined);
      observers.push(notifier.channel$('shared').subscribe());
    }
    for (let i = 0; i < count; i++) {
      void notifier.muteSubscriber(i, 'shared');
      void notifier.unsubscribe(i, 'shared');
      observers[i]?.unsubscribe();
    }
  });
}

/** @test {Notifier#subscribe} issue 10, item 13 */
describe('registration cost with many subscribers on one channel', () => {
  it('is linear overall: twice the subscribers is about twice the work, not four times', () => {
    const small = registrationWork(1_000);
    const large = registrationWork(2_000);
    // Linear gives ~2; the quadratic registry of before gave ~4 (each change walked the channel).
    expect(large / Math.max(small, 1)).toBeLessThan(2.6);
  });

  it('20,000 subscribers on one channel register without visiting the channel per change', () => {
    const notifier = new Notifier(new MemorySource());
    const work = countVisits(() => {
      for (let i = 0; i < 20_000; i++) void notifier.subscribe(i, 'shared', () => undefined);
    });
    // A handful of visits per change at most (none today); a walk per change would be 2e8.
    expect(work).toBeLessThan(20_000 * 4);
    expect(notifier.status()).toMatchObject({ subscriptions: 20_000, activeChannels: ['shared'] });
  });
});
