import { map, tap } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { MemorySource, Notifier, PayloadParseError, SubscriberError, type NotifierError } from '../src/index.js';
import { captureUnhandled, newScheduler } from './helpers.js';

/** @test {Notifier#subscribe} */
describe('fan-out and error isolation', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = newScheduler();
  });

  it('delivers each notification to every callback and observer, parsed once, in subscription order', () => {
    testScheduler.run(({ hot, expectObservable, flush }) => {
      const parsed: string[] = [];
      const source = new MemorySource();
      const notifier = new Notifier(source, {
        parse: (raw) => {
          parsed.push(raw);
          return Number(raw);
        },
      });
      const wire = hot('  -a-b', { a: '1', b: '2' });
      const calls: string[] = [];
      for (const id of ['x', 'y', 'z']) void notifier.subscribe(id, 'jobs', (i, _c, p) => calls.push(`${String(i)}${String(p)}`));

      wire.subscribe((payload) => {
        source.deliver('jobs', payload);
      });
      expectObservable(notifier.channel$('jobs').pipe(map((n) => n.payload))).toBe('-a-b', { a: 1, b: 2 });
      expectObservable(notifier.channel$<number>('jobs').pipe(map((n) => n.payload * 10))).toBe('-a-b', { a: 10, b: 20 });
      flush();
      expect(calls).toEqual(['x1', 'y1', 'z1', 'x2', 'y2', 'z2']);
      expect(parsed).toEqual(['1', '2']);
    });
  });

  it('a throwing callback is reported on errors$; the others and later notifications are unaffected', () => {
    testScheduler.run(({ hot, expectObservable, flush }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      const wire = hot('  -a-b-c', { a: '1', b: 'boom', c: '3' });
      const good: unknown[] = [];
      void notifier.subscribe('bad', 'jobs', (_i, _c, payload) => {
        if (payload === 'boom') throw new Error('boom');
      });
      void notifier.subscribe('good', 'jobs', (_i, _c, payload) => good.push(payload));

      wire.subscribe((payload) => {
        source.deliver('jobs', payload);
      });
      expectObservable(notifier.errors$.pipe(map((e) => [e.name, e instanceof SubscriberError ? e.id : undefined, e.message]))).toBe(
        '---e',
        {
          e: ['SubscriberError', 'bad', 'Subscriber "bad" failed on channel "jobs": boom'],
        },
      );
      flush();
      expect(good).toEqual([1, 'boom', 3]);
      expect(notifier.status().counters).toMatchObject({ delivered: 6, callbackErrors: 1 });
    });
  });

  it('an operator that throws in an observer chain errors that chain only (nothing unhandled); the others go on', () => {
    const reported = captureUnhandled(() => {
      testScheduler.run(({ hot, expectObservable }) => {
        const source = new MemorySource();
        const notifier = new Notifier(source);
        const wire = hot('  -a-b-c', { a: '1', b: '2', c: '3' });
        const failing = notifier.channel$('jobs').pipe(
          tap((n) => {
            if (n.payload === 2) throw new Error('bad operator');
          }),
          map((n) => n.payload),
        );

        wire.subscribe((payload) => {
          source.deliver('jobs', payload);
        });
        expectObservable(failing).toBe('-a-#', { a: 1 }, new Error('bad operator'));
        expectObservable(notifier.channel$('jobs').pipe(map((n) => n.payload))).toBe('-a-b-c', { a: 1, b: 2, c: 3 });
      });
    });
    expect(reported).toEqual([]);
  });

  it('a channel$ observer that throws: RxJS reports it as unhandled; the other observers and callbacks go on', () => {
    const reported = captureUnhandled(() => {
      testScheduler.run(({ hot, expectObservable, flush }) => {
        const source = new MemorySource();
        const notifier = new Notifier(source);
        const wire = hot('  -a-b-c', { a: '1', b: '2', c: '3' });
        const calls: unknown[] = [];
        notifier.channel$('jobs').subscribe((n) => {
          if (n.payload === 2) throw new Error('bad observer');
        });
        void notifier.subscribe('cb', 'jobs', (_i, _c, payload) => calls.push(payload));

        wire.subscribe((payload) => {
          source.deliver('jobs', payload);
        });
        expectObservable(notifier.channel$('jobs').pipe(map((n) => n.payload))).toBe('-a-b-c', { a: 1, b: 2, c: 3 });
        flush();
        expect(calls).toEqual([1, 2, 3]);
      });
    });
    expect(reported).toEqual([new Error('bad observer')]);
  });

  it('a parser that throws reports PayloadParseError and the stream goes on', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      const wire = hot('  -a-b-c', { a: '1', b: 'not json', c: '3' });
      const errors: NotifierError[] = [];
      notifier.errors$.subscribe((e) => errors.push(e));

      wire.subscribe((payload) => {
        source.deliver('jobs', payload);
      });
      expectObservable(notifier.channel$('jobs', { parse: (raw) => JSON.parse(raw) as number }).pipe(map((n) => n.payload))).toBe(
        '-a---c',
        { a: 1, c: 3 },
      );
      expectObservable(notifier.channel$('jobs').pipe(map((n) => n.payload))).toBe('-a-b-c', { a: 1, b: 'not json', c: 3 });
      testScheduler.flush();
      expect(errors).toEqual([expect.any(PayloadParseError)]);
      expect(errors[0]).toMatchObject({ channel: 'jobs', raw: 'not json' });
    });
  });
});
