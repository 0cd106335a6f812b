import { UnknownChannelError, UnknownSubscriberError } from '../src/index.js';
import * as reducers from '../src/state/reducers.js';
import { emptyRegistry, type Registry } from '../src/state/registry.js';

/** @test {reducers} pure functions over the registry: no RxJS, no database */
describe('registry reducers', () => {
  const subscribed = (): Registry => {
    let registry = reducers.subscribe(emptyRegistry, 'a', '"a"', 'jobs').registry;
    registry = reducers.subscribe(registry, 'a', '"a"', 'mail').registry;
    return reducers.subscribe(registry, 'b', '"b"', 'jobs').registry;
  };

  it('addChannels registers new channels only and reports them as changed', () => {
    const { registry, changed } = reducers.addChannels(emptyRegistry, ['a', 'b']);
    expect(changed).toEqual(['a', 'b']);
    const again = reducers.addChannels(registry, ['b', 'c']);
    expect(again.changed).toEqual(['c']);
    expect([...again.registry.channels.keys()]).toEqual(['a', 'b', 'c']);
    expect(reducers.addChannels(again.registry, ['a']).registry).toBe(again.registry);
  });

  it('subscribe registers the channel and the pair; the same pair again keeps its mute flag', () => {
    let registry = subscribed();
    registry = reducers.setSubscriberMuted(registry, 'a', '"a"', ['jobs'], true).registry;
    registry = reducers.subscribe(registry, 'a', '"a"', 'jobs').registry;
    expect(registry.channels.get('jobs')?.subscribers.get('"a"')).toEqual({ id: 'a', key: '"a"', muted: true });
    expect([...(registry.channelsBySubscriber.get('"a"') ?? [])]).toEqual(['jobs', 'mail']);
  });

  it('unsubscribe removes one pair, or every pair of the id; unknown ids and channels throw and change nothing', () => {
    const registry = subscribed();
    const one = reducers.unsubscribe(registry, 'a', '"a"', ['jobs']);
    expect(one.changed).toEqual(['jobs']);
    expect([...(one.registry.channelsBySubscriber.get('"a"') ?? [])]).toEqual(['mail']);
    const all = reducers.unsubscribe(registry, 'a', '"a"', undefined);
    expect(all.changed).toEqual(['jobs', 'mail']);
    expect(all.registry.channelsBySubscriber.has('"a"')).toBe(false);
    expect(() => reducers.unsubscribe(registry, 'x', '"x"', undefined)).toThrow(UnknownSubscriberError);
    expect(() => reducers.unsubscribe(registry, 'a', '"a"', ['ghost'])).toThrow(UnknownChannelError);
    expect(() => reducers.unsubscribe(registry, 'b', '"b"', ['mail'])).toThrow(UnknownSubscriberError);
  });

  it('setChannelsMuted changes only the channels whose flag differs; an unknown channel throws first', () => {
    const registry = subscribed();
    const muted = reducers.setChannelsMuted(registry, ['jobs'], true);
    expect(muted.changed).toEqual(['jobs']);
    expect(reducers.setChannelsMuted(muted.registry, undefined, true).changed).toEqual(['mail']);
    expect(() => reducers.setChannelsMuted(registry, ['jobs', 'ghost'], true)).toThrow(UnknownChannelError);
  });

  it('removeChannels drops the channels with their pairs; unknown names are ignored', () => {
    const { registry, changed } = reducers.removeChannels(subscribed(), ['jobs', 'ghost']);
    expect(changed).toEqual(['jobs']);
    expect([...registry.channels.keys()]).toEqual(['mail']);
    expect([...registry.channelsBySubscriber.keys()]).toEqual(['"a"']);
  });

  it('countObserver counts in and out; a channel removed meanwhile stays removed', () => {
    const counted = reducers.countObserver(emptyRegistry, 'jobs', 1).registry;
    expect(counted.channels.get('jobs')?.observers).toBe(1);
    expect(reducers.countObserver(counted, 'jobs', -1).registry.channels.get('jobs')?.observers).toBe(0);
    expect(reducers.countObserver(emptyRegistry, 'gone', -1)).toEqual({ registry: emptyRegistry, changed: [] });
  });
});
