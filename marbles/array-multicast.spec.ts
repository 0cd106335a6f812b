import { Observable, share, Subject, type SubjectLike } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { ArrayMulticast } from '../src/routing/array-multicast.js';
import { newScheduler } from './helpers.js';

// What a Subject must do, after RxJS's own Subject spec (late subscribers, leaving during next,
// nothing after complete, re-entrant next), checked on RxJS's Subject and on ArrayMulticast alike:
// the second must behave as the first wherever the notifier relies on it.
const kinds: [string, () => SubjectLike<string>][] = [
  ['RxJS Subject', () => new Subject<string>()],
  ['ArrayMulticast', () => new ArrayMulticast<string>()],
];

/** The multicast as an Observable: each subscriber is handed to it as `share` hands it its own. */
function asObservable<T>(multicast: SubjectLike<T>): Observable<T> {
  return new Observable<T>((subscriber) => multicast.subscribe(subscriber));
}

describe.each(kinds)('%s as a multicast', (_name, make) => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = newScheduler();
  });

  it('a late observer gets only the values sent after it subscribed', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const multicast = make();
      cold('-a-b-c-d-|').subscribe({
        next: (value) => {
          multicast.next(value);
        },
        complete: () => {
          multicast.complete();
        },
      });
      const values = asObservable(multicast);
      expectObservable(values).toBe('-a-b-c-d-|');
      expectObservable(values, '----^').toBe('-----c-d-|');
      expectObservable(values, '--^-!').toBe('---b');
    });
  });

  it('nothing is delivered after complete, and a later observer gets the completion at once', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const multicast = make();
      cold('-a-|').subscribe({
        complete: () => {
          multicast.complete();
          multicast.next('late');
        },
      });
      cold('-x').subscribe(() => {
        multicast.next('a');
      });
      expectObservable(asObservable(multicast)).toBe('-a-|');
      expectObservable(asObservable(multicast), '-----^').toBe('-----|');
    });
  });

  it('after error, a later observer gets the same error at once, and nothing else is delivered', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const multicast = make();
      const failure = new Error('gone');
      cold('--e').subscribe(() => {
        multicast.error(failure);
        multicast.next('late');
        multicast.complete();
      });
      expectObservable(asObservable(multicast)).toBe('--#', undefined, failure);
      expectObservable(asObservable(multicast), '----^').toBe('----#', undefined, failure);
    });
  });

  it('an observer that leaves during next is not called again, in that round or later', () => {
    const multicast = make();
    const seen: string[] = [];
    asObservable(multicast).subscribe((value) => {
      seen.push(`first ${value}`);
      // The first observer takes the second one out before the round reaches it.
      if (value === 'b') second.unsubscribe();
    });
    const second = asObservable(multicast).subscribe((value) => seen.push(`second ${value}`));
    const third = asObservable(multicast).subscribe((value) => {
      seen.push(`third ${value}`);
      // And leaves itself.
      if (value === 'b') third.unsubscribe();
    });
    multicast.next('a');
    multicast.next('b');
    multicast.next('c');
    expect(seen).toEqual(['first a', 'second a', 'third a', 'first b', 'third b', 'first c']);
  });

  it('an observer added during next gets the values after the current one', () => {
    const multicast = make();
    const seen: string[] = [];
    asObservable(multicast).subscribe((value) => {
      seen.push(`first ${value}`);
      // eslint-disable-next-line rxjs-x/no-nested-subscribe -- subscribing during next is the point
      if (value === 'a') asObservable(multicast).subscribe((later) => seen.push(`added ${later}`));
    });
    multicast.next('a');
    multicast.next('b');
    expect(seen).toEqual(['first a', 'first b', 'added b']);
  });

  it('a next from inside an observer reaches every observer before the outer round goes on', () => {
    const multicast = make();
    const seen: string[] = [];
    asObservable(multicast).subscribe((value) => {
      seen.push(`first ${value}`);
      if (value === 'a') multicast.next('b');
    });
    asObservable(multicast).subscribe((value) => seen.push(`second ${value}`));
    multicast.next('a');
    expect(seen).toEqual(['first a', 'first b', 'second b', 'second a']);
  });

  it("as share's connector: the last observer leaving unsubscribes the source, a new one gets a new connector", () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-e-f');
      const shared = source.pipe(share({ connector: make }));
      expectObservable(shared, '^--!').toBe('-a-');
      expectObservable(shared, '-^---!').toBe('-a-b-');
      expectObservable(shared, '-------^--!').toBe('-------d-e');
      expectSubscriptions(source.subscriptions).toBe(['^----!', '-------^--!']);
    });
  });
});

describe('ArrayMulticast', () => {
  it('an observer that is a Subscriber leaves the array when it unsubscribes (share ignores what subscribe returns)', () => {
    const multicast = new ArrayMulticast<number>();
    const input = new Subject<number>();
    const shared = input.pipe(share({ connector: () => multicast }));
    const first = shared.subscribe(() => undefined);
    const second = shared.subscribe(() => undefined);
    expect(multicast.size).toBe(2);
    first.unsubscribe();
    expect(multicast.size).toBe(1);
    second.unsubscribe();
    expect(multicast.size).toBe(0);
  });

  it('the Unsubscribable it returns takes a plain observer out', () => {
    const multicast = new ArrayMulticast<number>();
    const seen: number[] = [];
    const subscription = multicast.subscribe({ next: (value) => seen.push(value) });
    multicast.next(1);
    subscription.unsubscribe();
    multicast.next(2);
    expect(seen).toEqual([1]);
    expect(multicast.size).toBe(0);
  });

  it('a plain observer (as the router input has) that another takes out during next is not called in that round', () => {
    const multicast = new ArrayMulticast<number>();
    const seen: string[] = [];
    multicast.subscribe({
      next: (value) => {
        seen.push(`first ${String(value)}`);
        second.unsubscribe();
      },
    });
    const second = multicast.subscribe({ next: (value) => seen.push(`second ${String(value)}`) });
    multicast.next(1);
    multicast.next(2);
    expect(seen).toEqual(['first 1', 'first 2']);
  });

  it('a plain observer that throws stops the round and the throw reaches the caller of next', () => {
    const multicast = new ArrayMulticast<number>();
    const seen: number[] = [];
    multicast.subscribe({
      next: () => {
        throw new Error('observer failed');
      },
    });
    multicast.subscribe({ next: (value) => seen.push(value) });
    expect(() => {
      multicast.next(1);
    }).toThrow('observer failed');
    expect(seen).toEqual([]);
  });
});
