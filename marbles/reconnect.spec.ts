import { map } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { MemorySource, Notifier } from '../src/index.js';
import { newScheduler } from './helpers.js';

/** @test {Notifier#resync$} */
describe('reconnects, resync$ and removal', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = newScheduler();
  });

  it('re-LISTENs every active channel on a new session, then emits resync$; observers carry on', () => {
    testScheduler.run(({ cold, hot, expectObservable }) => {
      const source = new MemorySource({ latency: () => cold('--|') });
      const notifier = new Notifier(source);
      // b is sent while the connection is down: PostgreSQL keeps nothing for a lost session.
      const wire = hot('   ---a-b---c-d', { a: '1', b: '2', c: '3', d: '4' });
      const drop = cold('  ----x       ');
      const expected = '   ---a-----c-d';
      const resync = '     ------r     ';
      const commands = '   --L---L     ';

      expectObservable(source.commands$).toBe(commands, { L: 'LISTEN a' });
      expectObservable(notifier.resync$).toBe(resync, { r: undefined });
      expectObservable(notifier.errors$.pipe(map((e) => e.name))).toBe('----e', { e: 'ConnectionError' });
      drop.subscribe(() => {
        source.drop();
      });
      wire.subscribe((payload) => {
        source.deliver('a', payload);
      });
      expectObservable(notifier.channel$('a').pipe(map((n) => n.payload))).toBe(expected, { a: 1, c: 3, d: 4 });
    });
  });

  it('removeChannels completes the observers and UNLISTENs; autorun: false leaves the server until the next session', () => {
    testScheduler.run(({ cold, expectObservable, flush }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      notifier.errors$.subscribe();
      const steps = cold('  -s-r-t-d', { s: 'subscribe b', r: 'remove a', t: 'remove b later', d: 'new session' });
      const commands = '    AB-U    ';

      expectObservable(source.commands$).toBe(commands, { A: 'LISTEN a', B: 'LISTEN b', U: 'UNLISTEN a' });
      expectObservable(notifier.channel$('a')).toBe('---|');
      steps.subscribe((step) => {
        if (step === 'subscribe b') void notifier.subscribe('s', 'b', () => undefined);
        if (step === 'remove a') void notifier.removeChannels('a');
        if (step === 'remove b later') {
          void notifier.removeChannels('b', { autorun: false });
          expect(source.listening()).toEqual(['b']);
          expect(notifier.activeChannels()).toEqual(['b']);
        }
        if (step === 'new session') source.drop();
      });
      flush();
      expect(source.listening()).toEqual([]);
      expect(notifier.channels()).toEqual({});
    });
  });
});
