import { BehaviorSubject, EMPTY, map, NEVER } from 'rxjs';

import { MemorySource, Notifier, NotifierClosedError, type NotificationSource, type SourceState } from '../src/index.js';

const flushPromises = () => new Promise<void>((resolve) => setImmediate(resolve));

/** @test {Notifier} issue 10's semantics, each in the in-memory source */
describe('issue 10: semantics of changes, promises and delivery rounds', () => {
  it('item 7: an observer that subscribes to b while removeChannels([a, b]) completes a leaves b routed, registered and LISTENed', () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    const got: unknown[] = [];
    notifier.channel$('a').subscribe({
      complete: () => void notifier.subscribe('late', 'b', (_id, _channel, payload) => got.push(payload)),
    });
    void notifier.subscribe('s', 'b', () => undefined);
    void notifier.removeChannels(['a', 'b']);
    expect(Object.keys(notifier.channels())).toEqual(['b']);
    expect(source.listening()).toEqual(['b']);
    source.deliver('b', '1');
    expect(got).toEqual([1]);
    expect(notifier.status().counters.unrouted).toBe(0);
  });

  it('item 10: start() on a running notifier applies autorun: false changes', async () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    await notifier.subscribe('s', 'jobs', () => undefined);
    await notifier.subscribe('t', 'later', () => undefined, { autorun: false });
    await notifier.unsubscribe('s', 'jobs', { autorun: false });
    expect(source.listening()).toEqual(['jobs']);
    await notifier.start();
    expect(source.listening()).toEqual(['later']);
  });

  it('item 11: a change resolves when that change is reflected, not when unrelated work is', async () => {
    const releases: (() => void)[] = [];
    const source = new MemorySource({ latency: () => new Promise<void>((resolve) => releases.push(resolve)) });
    const notifier = new Notifier(source);
    const resolved: string[] = [];
    const track = (name: string, promise: Promise<void>) => void promise.then(() => resolved.push(name));
    track(
      'subscribe jobs',
      notifier.subscribe('s', 'jobs', () => undefined),
    ); // LISTEN "jobs" in flight
    track('addChannels', notifier.addChannels('idle')); // needs no server work
    track(
      'autorun false',
      notifier.subscribe('t', 'other', () => undefined, { autorun: false }),
    );
    track(
      'second subscriber of jobs',
      notifier.subscribe('u', 'jobs', () => undefined),
    ); // needs that LISTEN
    await flushPromises();
    expect(resolved).toEqual(['addChannels', 'autorun false']);
    for (const release of releases) release();
    await flushPromises();
    expect(resolved).toEqual(['addChannels', 'autorun false', 'subscribe jobs', 'second subscriber of jobs']);
  });

  it('item 11: synced() resolves once everything asked so far is on the server', async () => {
    let release: () => void = () => undefined;
    const source = new MemorySource({ latency: () => new Promise<void>((resolve) => (release = resolve)) });
    const notifier = new Notifier(source);
    notifier.channel$('jobs').subscribe();
    let synced = false;
    void notifier.synced().then(() => (synced = true));
    await flushPromises();
    expect(synced).toBe(false);
    release();
    await flushPromises();
    expect(synced).toBe(true);
    expect(source.listening()).toEqual(['jobs']);
  });

  it('item 17: restart() and stop() + start() emit resync$', async () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    let resyncs = 0;
    notifier.resync$.subscribe(() => resyncs++);
    await notifier.subscribe('s', 'jobs', () => undefined);
    expect(resyncs).toBe(0);
    await notifier.restart();
    expect(resyncs).toBe(1);
    await notifier.stop();
    await notifier.start();
    expect(resyncs).toBe(2);
  });

  it('item 17: start() rejects with NotifierClosedError when close() comes before it connected', async () => {
    // A source that keeps trying to connect, as PgListenSource does against a server that is down.
    const state = new BehaviorSubject<SourceState>({ status: 'idle' });
    const source: NotificationSource = {
      notifications$: NEVER,
      state$: state,
      start: () => {
        state.next({ status: 'connecting', attempt: 1 });
      },
      stop: () => Promise.resolve(),
      recycle: () => undefined,
      listen: () => EMPTY,
      unlisten: () => EMPTY,
      send: () => Promise.resolve(),
      dispose: () => Promise.resolve(),
    };
    const notifier = new Notifier(source);
    const started = notifier.start();
    await notifier.close();
    await expect(started).rejects.toBeInstanceOf(NotifierClosedError);
  });

  it('item 17: stop() and restart() after close() throw synchronously, like every other method', async () => {
    const notifier = new Notifier(new MemorySource());
    await notifier.close();
    expect(() => notifier.stop()).toThrow(NotifierClosedError);
    expect(() => notifier.restart()).toThrow(NotifierClosedError);
    expect(() => notifier.synced()).toThrow(NotifierClosedError);
  });

  it('item 17: callbacks unsubscribed, muted or closed earlier in the same round do not receive it (as observers)', () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    const calls: string[] = [];
    void notifier.subscribe('first', 'jobs', () => {
      calls.push('first');
      void notifier.unsubscribe('second', 'jobs');
      void notifier.muteSubscriber('third', 'jobs');
    });
    void notifier.subscribe('second', 'jobs', () => calls.push('second'));
    void notifier.subscribe('third', 'jobs', () => calls.push('third'));
    void notifier.subscribe('fourth', 'jobs', () => {
      calls.push('fourth');
      void notifier.close();
    });
    void notifier.subscribe('fifth', 'jobs', () => calls.push('fifth'));
    source.deliver('jobs', '1');
    expect(calls).toEqual(['first', 'fourth']);
  });

  it('item 17: status() serialises the connection error with its name, message and code', () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    notifier.errors$.subscribe();
    void notifier.subscribe('s', 'jobs', () => undefined);
    const seen: unknown[] = [];
    notifier.state$.subscribe((state) => {
      if (state.status === 'reconnecting') seen.push(JSON.parse(JSON.stringify(notifier.status().connection)));
    });
    source.drop(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
    expect(seen).toEqual([
      {
        status: 'reconnecting',
        attempt: 1,
        error: { name: 'Error', message: 'terminating connection due to administrator command', code: '57P01' },
      },
    ]);
  });

  it('item 17: after close() the views show nothing registered and status() says closed, with the counters', async () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    notifier.channel$('a').subscribe();
    await notifier.subscribe('s', 'b', () => undefined);
    source.deliver('b', '1');
    await notifier.close();
    expect(notifier.channels()).toEqual({});
    expect(notifier.subscribers()).toEqual([]);
    expect(notifier.activeChannels()).toEqual([]);
    expect(notifier.status()).toMatchObject({
      running: false,
      connection: { status: 'closed' },
      channels: 0,
      observers: 0,
      subscriptions: 0,
    });
    expect(notifier.status().counters).toMatchObject({ received: 1, delivered: 1 });
  });

  it('item 17: async callbacks are not awaited: the next notification starts before the previous promise settled', async () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    const started: unknown[] = [];
    const releases: (() => void)[] = [];
    await notifier.subscribe('slow', 'jobs', async (_id, _channel, payload) => {
      started.push(payload);
      await new Promise<void>((resolve) => releases.push(resolve));
    });
    source.deliver('jobs', '1');
    source.deliver('jobs', '2');
    expect(started).toEqual([1, 2]);
    for (const release of releases) release();
  });

  it('item 12: after subscribing to channel$, synced() says the LISTEN is in place', async () => {
    let release: () => void = () => undefined;
    const source = new MemorySource({ latency: () => new Promise<void>((resolve) => (release = resolve)) });
    const notifier = new Notifier(source);
    const got: unknown[] = [];
    notifier
      .channel$('jobs')
      .pipe(map((n) => n.payload))
      .subscribe((payload) => got.push(payload));
    const ready = notifier.synced();
    setImmediate(release);
    await ready;
    source.deliver('jobs', '1');
    expect(got).toEqual([1]);
  });
});

describe('payloads: big integers (issue 10, item 17, documented in the README)', () => {
  it('the default parser rounds integers beyond 2^53, like JSON.parse; parse: raw keeps the text as sent', () => {
    const source = new MemorySource();
    const notifier = new Notifier(source);
    const parsed: unknown[] = [];
    const raw: unknown[] = [];
    notifier.channel$('ledger').subscribe((n) => parsed.push(n.payload));
    notifier.channel$('ledger', { parse: 'raw' }).subscribe((n) => raw.push(n.payload));
    source.deliver('ledger', '{"id":9007199254740993}');
    expect(parsed).toEqual([{ id: 9007199254740992 }]);
    expect(raw).toEqual(['{"id":9007199254740993}']);
  });
});
