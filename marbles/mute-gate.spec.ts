import { map } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { MemorySource, Notifier } from '../src/index.js';
import { newScheduler } from './helpers.js';

/** @test {Notifier#muteChannels} */
describe('mute: the gate over the channel’s BehaviorSubject', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = newScheduler();
  });

  it('silences observers at once, even for notifications already in flight, without completing them', () => {
    testScheduler.run(({ cold, hot, expectObservable }) => {
      const source = new MemorySource({ latency: () => cold('-|') });
      const notifier = new Notifier(source);
      // inject() delivers whether LISTENed or not, as a notification already on the wire would.
      const wire = hot('       --a-b-c-d-e-f-g', { a: '1', b: '2', c: '3', d: '4', e: '5', f: '6', g: '7' });
      const toggles = cold('   ---m-----u    ');
      const expected = '       --a-------e-f-g';
      const commands = '       -L--U-----L    ';

      expectObservable(source.commands$).toBe(commands, { L: 'LISTEN jobs', U: 'UNLISTEN jobs' });
      wire.subscribe((payload) => {
        source.inject('jobs', payload);
      });
      toggles.subscribe((toggle) => void (toggle === 'm' ? notifier.muteChannels('jobs') : notifier.unmuteChannels('jobs')));
      expectObservable(notifier.channel$('jobs').pipe(map((n) => n.payload))).toBe(expected, { a: 1, e: 5, f: 6, g: 7 });
    });
  });

  it('a muted subscriber misses what the others get; the channel stays LISTENed for them', () => {
    testScheduler.run(({ hot, cold, expectObservable, flush }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      const wire = hot('     -a-b-c', { a: '1', b: '2', c: '3' });
      const toggles = cold(' --m-u ');
      const calls: string[] = [];

      expectObservable(source.commands$).toBe('-');
      void notifier.subscribe('loud', 'jobs', (id, _channel, payload) => calls.push(`${String(id)}:${String(payload)}`));
      void notifier.subscribe('quiet', 'jobs', (id, _channel, payload) => calls.push(`${String(id)}:${String(payload)}`));
      toggles.subscribe((t) => void (t === 'm' ? notifier.muteSubscriber('quiet') : notifier.unmuteSubscriber('quiet')));
      wire.subscribe((payload) => {
        source.deliver('jobs', payload);
      });
      flush();
      expect(calls).toEqual(['loud:1', 'quiet:1', 'loud:2', 'loud:3', 'quiet:3']);
      expect(source.listening()).toEqual(['jobs']);
    });
  });

  it('muting every subscriber and observer-less channel UNLISTENs it; channel mute keeps subscriber flags', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = new MemorySource();
      const notifier = new Notifier(source);
      const steps = cold('  s-a-b-c-d', { s: 'subscribe', a: 'muteSub', b: 'muteChan', c: 'unmuteSub', d: 'unmuteChan' });
      const commands = '    L-U-----L';

      expectObservable(source.commands$).toBe(commands, { L: 'LISTEN jobs', U: 'UNLISTEN jobs' });
      steps.subscribe((step) => {
        if (step === 'subscribe') void notifier.subscribe('s', 'jobs', () => undefined);
        if (step === 'muteSub') void notifier.muteSubscriber('s', 'jobs');
        if (step === 'muteChan') void notifier.muteChannels('jobs');
        if (step === 'unmuteSub') void notifier.unmuteSubscriber('s', 'jobs');
        if (step === 'unmuteChan') void notifier.unmuteChannels('jobs');
      });
    });
  });
});
