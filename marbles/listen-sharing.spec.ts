import { map } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { MemorySource, Notifier } from '../src/index.js';
import { newScheduler } from './helpers.js';

/** @test {Notifier#channel$} */
describe('channel$: one LISTEN shared by every observer', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = newScheduler();
  });

  it('LISTENs on the first observer, shares it, and UNLISTENs when the last one leaves', () => {
    testScheduler.run(({ cold, hot, expectObservable }) => {
      const source = new MemorySource({ latency: () => cold('--|') });
      const notifier = new Notifier(source);
      const server = hot('   -a-b-c-d-e-f-g-h-i', { a: '1', b: '2', c: '3', d: '4', e: '5', f: '6', g: '7', h: '8', i: '9' });
      const jobs$ = notifier.channel$('jobs').pipe(map((n) => n.payload));
      const first = '       ^------!            ';
      const second = '      ----^---------!     ';
      const expected1 = '   ---b-c--            ';
      const expected2 = '   -----c-d-e-f-g      ';
      const commands = '    --L-------------U   ';

      server.subscribe((payload) => {
        source.deliver('jobs', payload);
      });
      expectObservable(jobs$, first).toBe(expected1, { b: 2, c: 3 });
      expectObservable(jobs$, second).toBe(expected2, { c: 3, d: 4, e: 5, f: 6, g: 7 });
      expectObservable(source.commands$).toBe(commands, { L: 'LISTEN jobs', U: 'UNLISTEN jobs' });
    });
  });

  it('keeps the LISTEN while a callback subscriber remains after the observers leave', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      const subscribe = cold('  s-----u  ');
      const observer = '        -^-!     ';
      const commands = '        L-----U  ';

      expectObservable(source.commands$).toBe(commands, { L: 'LISTEN jobs', U: 'UNLISTEN jobs' });
      subscribe.subscribe((step) => {
        if (step === 's') void notifier.subscribe('audit', 'jobs', () => undefined);
        else void notifier.unsubscribe('audit', 'jobs');
      });
      expectObservable(notifier.channel$('jobs'), observer).toBe('-');
    });
  });

  it('routes each notification to its own channel only', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      const a = hot('  -1---3-', { 1: '1', 3: '3' });
      const b = hot('  ---2---4', { 2: '2', 4: '4' });

      a.subscribe((p) => {
        source.deliver('a', p);
      });
      b.subscribe((p) => {
        source.deliver('b', p);
      });
      expectObservable(notifier.channel$('a').pipe(map((n) => n.payload))).toBe('-1---3-', { 1: 1, 3: 3 });
      expectObservable(notifier.channel$('b').pipe(map((n) => n.payload))).toBe('---2---4', { 2: 2, 4: 4 });
    });
  });
});
