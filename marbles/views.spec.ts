import { ConnectionError } from '../src/index.js';
import { newCounters } from '../src/routing/counters.js';
import * as reducers from '../src/state/reducers.js';
import { emptyRegistry } from '../src/state/registry.js';
import * as views from '../src/state/views.js';

/** @test {views} read-only snapshots of the registry */
describe('registry views', () => {
  let registry = reducers.subscribe(emptyRegistry, ['a', 1], '["a",1]', 'jobs').registry;
  registry = reducers.subscribe(registry, 'b', '"b"', 'jobs').registry;
  registry = reducers.setSubscriberMuted(registry, 'b', '"b"', undefined, true).registry;
  registry = reducers.countObserver(registry, 'jobs', 1).registry;
  registry = reducers.addChannels(registry, ['idle']).registry;
  registry = reducers.setChannelsMuted(registry, ['idle'], true).registry;

  it('channelsView and subscribersView show flags, activity and fresh id copies', () => {
    const channels = views.channelsView(registry, new Set(['jobs']));
    expect(channels).toEqual({
      jobs: {
        muted: false,
        active: true,
        observers: 1,
        subscribers: [
          { id: ['a', 1], muted: false },
          { id: 'b', muted: true },
        ],
      },
      idle: { muted: true, active: false, observers: 0, subscribers: [] },
    });
    const again = views.channelsView(registry, new Set());
    expect(again.jobs?.subscribers[0]?.id).not.toBe(channels.jobs?.subscribers[0]?.id);
    expect(views.subscribersView(registry, new Set(['jobs']))).toEqual([
      { id: ['a', 1], channels: { jobs: { muted: false, channelMuted: false, active: true } } },
      { id: 'b', channels: { jobs: { muted: true, channelMuted: false, active: true } } },
    ]);
  });

  it('mute views filter by flag', () => {
    expect(views.channelsByMute(registry, undefined, true)).toEqual(['idle']);
    expect(views.subscribersByMute(registry, ['jobs'], true)).toEqual({ jobs: ['b'] });
    expect(views.subscribersByMute(registry, undefined, false)).toEqual({ jobs: [['a', 1]], idle: [] });
  });

  it('statusView counts pairs and observers and serialises the connection error', () => {
    const error = Object.assign(new ConnectionError('lost'), { code: '57P01' });
    const status = views.statusView(registry, new Set(['jobs']), { status: 'reconnecting', attempt: 2, error }, newCounters(), false);
    expect(JSON.parse(JSON.stringify(status))).toMatchObject({
      running: false,
      connection: { status: 'reconnecting', attempt: 2, error: { name: 'ConnectionError', message: 'lost', code: '57P01' } },
      channels: 2,
      activeChannels: ['jobs'],
      mutedChannels: ['idle'],
      subscribers: 2,
      subscriptions: 2,
      observers: 1,
    });
  });
});
