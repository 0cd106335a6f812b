import { map } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';

import { Channel, type ChannelContext } from '../src/routing/channel.js';
import { newCounters } from '../src/routing/counters.js';
import type { RawNotification } from '../src/source/notification-source.js';
import { newScheduler } from './helpers.js';

// One spec per clause of the design card, against a Channel fed by a marble hot Observable, so
// lifetimes are checked with expectSubscriptions as RxJS checks its own operators.
describe('Channel: the design card, clause by clause', () => {
  let testScheduler: TestScheduler;
  let context: ChannelContext;
  let parsed: string[];
  beforeEach(() => {
    testScheduler = newScheduler();
    parsed = [];
    context = {
      parse: (raw) => {
        parsed.push(raw);
        return Number(raw);
      },
      report: () => undefined,
      counters: newCounters(),
    };
  });
  const raw = (payload: string): RawNotification => ({ channel: 'jobs', payload, pid: 7 });
  const wire = { a: raw('1'), b: raw('2'), c: raw('3'), d: raw('4'), e: raw('5'), f: raw('6') };

  it('each channel is a hot Observable: late observers get only later notifications, parsed once for all', () => {
    testScheduler.run(({ hot, cold, expectObservable, flush }) => {
      const input = hot('-a-b-c-d', wire);
      const channel = new Channel('jobs', input, context);
      expectObservable(channel.observe().pipe(map((n) => n.payload))).toBe('-a-b-c-d', { a: 1, b: 2, c: 3, d: 4 });
      const late = cold('----x').pipe(map(() => channel.observe()));
      expectObservable(late.pipe(map(() => 'subscribed'))).toBe('----x', { x: 'subscribed' });
      expectObservable(channel.observe().pipe(map((n) => n.payload)), '----^---').toBe('-----c-d', { c: 3, d: 4 });
      flush();
      expect(parsed).toEqual(['1', '2', '3', '4']);
    });
  });

  it('the last observer leaving unsubscribes the channel from its input (share resets on refCount zero)', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const input = hot('-a-b-c-d-e', wire);
      const channel = new Channel('jobs', input, context);
      expectObservable(channel.observe().pipe(map((n) => n.payload)), '^--!').toBe('-a-', { a: 1 });
      expectObservable(channel.observe().pipe(map((n) => n.payload)), '-^----!').toBe('-a-b-c', { a: 1, b: 2, c: 3 });
      expectSubscriptions(input.subscriptions).toBe('^-----!');
    });
  });

  it('muting is switchMap over the mute BehaviorSubject: a muted channel is unsubscribed from its input', () => {
    testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const input = hot('-a-b-c-d-e-f', wire);
      const channel = new Channel('jobs', input, context);
      cold('--m---u').subscribe((step) => {
        channel.setMuted(step === 'm');
      });
      expectObservable(channel.observe().pipe(map((n) => n.payload))).toBe('-a-----d-e-f', { a: 1, d: 4, e: 5, f: 6 });
      expectSubscriptions(input.subscriptions).toBe(['^-!', '------^']);
    });
  });

  it('the same mute state, with the consumer count, is what wants LISTEN (wanted$)', () => {
    testScheduler.run(({ hot, cold, expectObservable }) => {
      const channel = new Channel('jobs', hot('-'), context);
      cold('-s--m-u--x').subscribe((step) => {
        if (step === 's') channel.subscribe('"a"', 'a', () => undefined);
        if (step === 'm') channel.setMuted(true);
        if (step === 'u') channel.setMuted(false);
        if (step === 'x') channel.unsubscribe('"a"');
      });
      expectObservable(channel.wanted$).toBe('fl--f-l--f', { f: false, l: true });
    });
  });

  it('subscribers are RxJS Subscriptions keyed by id; a subscriber mute switches its Subscription to EMPTY', () => {
    testScheduler.run(({ hot, cold, expectObservable, flush }) => {
      const channel = new Channel('jobs', hot('-a-b-c-d', wire), context);
      const calls: string[] = [];
      const record = (id: unknown, _channel: string, payload: unknown) => calls.push(`${String(id)}${String(payload)}`);
      channel.subscribe('"x"', 'x', record);
      channel.subscribe('"y"', 'y', record);
      cold('--m-u').subscribe((step) => {
        channel.setSubscriberMuted('"y"', step === 'm');
      });
      cold('------q').subscribe(() => {
        channel.unsubscribe('"x"');
      });
      // A subscriber counts as a consumer only while its Subscription is attached.
      expectObservable(cold('-0-1-2-3').pipe(map(() => channel.consumers))).toBe('-0-1-2-3', { 0: 2, 1: 1, 2: 2, 3: 1 });
      flush();
      expect(calls).toEqual(['x1', 'y1', 'x2', 'x3', 'y3', 'y4']);
      expect(channel.subscriberCount).toBe(1);
    });
  });

  it('complete() ends every Subscription and wanted$; observers complete with the input (the router completes it next)', () => {
    testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions, flush }) => {
      const input = hot('-a-b-|', wire);
      const channel = new Channel('jobs', input, context);
      channel.subscribe('"x"', 'x', () => undefined);
      cold('---c').subscribe(() => {
        channel.complete();
      });
      expectObservable(channel.observe().pipe(map((n) => n.payload))).toBe('-a-b-|', { a: 1, b: 2 });
      expectObservable(channel.wanted$).toBe('l--|', { l: true });
      expectSubscriptions(input.subscriptions).toBe('^----!');
      flush();
      expect(channel.subscriberCount).toBe(0);
    });
  });
});
