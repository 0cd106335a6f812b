import { EMPTY, NEVER, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { MemorySource, Notifier, type DurableMessage, type DurableSource } from '../src/index.js';
import { newScheduler } from './helpers.js';

/** A durable part whose consume and read are the given cold Observables (a stand-in, behind DurableSource). */
function durableOf(consume$: Observable<DurableMessage>, read$: Observable<DurableMessage> = NEVER): DurableSource {
  return {
    errors$: NEVER,
    read: () => read$,
    consume: () => consume$,
    forget: () => Promise.resolve(),
    publish: () => Promise.resolve('1'),
    install: () => Promise.resolve(),
  };
}

class DurableMemorySource extends MemorySource {
  constructor(readonly durable: DurableSource) {
    super();
  }
}

/** @test {Notifier#subscribe} */
describe('a durable subscriber: its Subscription switches over the mute BehaviorSubjects', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = newScheduler();
  });

  it('muting the subscriber, then the channel, unsubscribes its consume Observable; unmuting subscribes it again', () => {
    testScheduler.run(({ cold, expectSubscriptions, flush }) => {
      const consume$ = cold<DurableMessage>('-');
      const source = new DurableMemorySource(durableOf(consume$));
      const notifier = new Notifier(source);
      const toggles = cold('--m--u--M--U');

      void notifier.subscribe('worker', 'jobs', () => undefined, { durable: true });
      toggles.subscribe((t) => {
        if (t === 'm') void notifier.muteSubscriber('worker');
        if (t === 'u') void notifier.unmuteSubscriber('worker');
        if (t === 'M') void notifier.muteChannels('jobs');
        if (t === 'U') void notifier.unmuteChannels('jobs');
      });
      expectSubscriptions(consume$.subscriptions).toBe(['^-!', '-----^--!', '-----------^']);
      flush();
      // A durable subscriber never LISTENs the plain channel: its wake-ups are the durable part's.
      expect(source.listening()).toEqual([]);
      expect(notifier.subscribers()).toEqual([
        { id: 'worker', channels: { jobs: { muted: false, channelMuted: false, active: false, durable: true } } },
      ]);
    });
  });

  it('a durable channel$ observer is paused while its channel is muted and ends when the channel is removed', () => {
    testScheduler.run(({ cold, expectSubscriptions, expectObservable }) => {
      const read$ = cold<DurableMessage>('-');
      const source = new DurableMemorySource(durableOf(EMPTY, read$));
      const notifier = new Notifier(source);
      const toggles = cold('--M--U--r');
      toggles.subscribe((t) => {
        if (t === 'M') void notifier.muteChannels('jobs');
        if (t === 'U') void notifier.unmuteChannels('jobs');
        if (t === 'r') void notifier.removeChannels('jobs');
      });
      expectObservable(notifier.channel$('jobs', { durable: true, since: 'earliest' })).toBe('--------|');
      expectSubscriptions(read$.subscriptions).toBe(['^-!', '-----^--!']);
    });
  });
});
