/**
 * Pure functions over the {@link Registry}: each takes a registry and returns the next one with
 * the channels it touched, or throws a typed error and changes nothing. Every argument is
 * validated before the first write, so a throw never leaves half a change behind.
 */
import { OrderedSet } from 'immutable';

import { UnknownChannelError } from '../errors/unknown-channel-error.js';
import { UnknownSubscriberError } from '../errors/unknown-subscriber-error.js';
import type { SubscriberId } from '../types.js';
import { entryOf, newChannel, type Registry } from './registry.js';

/** The result of a reducer: the next registry and the channels whose entry changed. */
export interface Change {
  readonly registry: Registry;
  readonly changed: readonly string[];
}

/** Registers channels that are not registered yet; existing ones keep their state. */
export function addChannels(registry: Registry, channels: readonly string[]): Change {
  const added = channels.filter((channel) => !registry.channels.has(channel));
  if (added.length === 0) return { registry, changed: added };
  const next = registry.channels.withMutations((map) => {
    for (const channel of added) map.set(channel, newChannel);
  });
  return { registry: { ...registry, channels: next }, changed: added };
}

/** Removes channels with all their subscribers. Channels that are not registered are ignored. */
export function removeChannels(registry: Registry, channels: readonly string[]): Change {
  const removed = channels.filter((channel) => registry.channels.has(channel));
  if (removed.length === 0) return { registry, changed: removed };
  let subscriptions = registry.channelsBySubscriber;
  for (const channel of removed) {
    for (const key of entryOf(registry.channels, channel).subscribers.keys()) {
      subscriptions = dropPair(subscriptions, key, channel);
    }
  }
  return { registry: { channels: registry.channels.deleteAll(removed), channelsBySubscriber: subscriptions }, changed: removed };
}

/**
 * Subscribes `key` to `channel`, registering the channel when needed. The same (id, channel)
 * again keeps its mute flag; other channels of the id keep theirs.
 */
export function subscribe(registry: Registry, id: SubscriberId, key: string, channel: string, durable = false): Change {
  const entry = registry.channels.get(channel) ?? newChannel;
  const muted = entry.subscribers.get(key)?.muted ?? false;
  return {
    registry: {
      channels: registry.channels.set(channel, {
        ...entry,
        subscribers: entry.subscribers.set(key, durable ? { id, key, muted, durable } : { id, key, muted }),
      }),
      channelsBySubscriber: registry.channelsBySubscriber.update(key, OrderedSet<string>(), (set) => set.add(channel)),
    },
    changed: [channel],
  };
}

/**
 * Unsubscribes `key` from `channels`, or from all of its channels when none are given.
 *
 * @throws {@link UnknownSubscriberError} when the id is not subscribed (to one of the channels);
 * {@link UnknownChannelError} when a channel is not registered.
 */
export function unsubscribe(registry: Registry, id: SubscriberId, key: string, channels: readonly string[] | undefined): Change {
  const targets = pairsOf(registry, id, key, channels);
  let { channels: entries, channelsBySubscriber: subscriptions } = registry;
  for (const channel of targets) {
    const entry = entryOf(entries, channel);
    entries = entries.set(channel, { ...entry, subscribers: entry.subscribers.delete(key) });
    subscriptions = dropPair(subscriptions, key, channel);
  }
  return { registry: { channels: entries, channelsBySubscriber: subscriptions }, changed: targets };
}

/**
 * Sets the mute flag of `channels`, or of every channel when none are given.
 *
 * @throws {@link UnknownChannelError} when a channel is not registered.
 */
export function setChannelsMuted(registry: Registry, channels: readonly string[] | undefined, muted: boolean): Change {
  const targets = channels ?? [...registry.channels.keys()];
  for (const channel of targets) if (!registry.channels.has(channel)) throw new UnknownChannelError(channel);
  const changed = targets.filter((channel) => entryOf(registry.channels, channel).muted !== muted);
  if (changed.length === 0) return { registry, changed };
  const next = registry.channels.withMutations((map) => {
    for (const channel of changed) map.set(channel, { ...entryOf(map, channel), muted });
  });
  return { registry: { ...registry, channels: next }, changed };
}

/**
 * Sets the mute flag of subscriber `key` on `channels`, or on all of its channels when none are
 * given.
 *
 * @throws {@link UnknownSubscriberError} when the id is not subscribed (to one of the channels);
 * {@link UnknownChannelError} when a channel is not registered.
 */
export function setSubscriberMuted(
  registry: Registry,
  id: SubscriberId,
  key: string,
  channels: readonly string[] | undefined,
  muted: boolean,
): Change {
  const targets = pairsOf(registry, id, key, channels);
  const changed: string[] = [];
  let entries = registry.channels;
  for (const channel of targets) {
    const entry = entryOf(entries, channel);
    const subscription = entry.subscribers.get(key);
    if (subscription === undefined || subscription.muted === muted) continue;
    entries = entries.set(channel, { ...entry, subscribers: entry.subscribers.set(key, { ...subscription, muted }) });
    changed.push(channel);
  }
  return { registry: changed.length === 0 ? registry : { ...registry, channels: entries }, changed };
}

/**
 * Counts a `channel$` observer in (`+1`, registering the channel when needed) or out (`-1`; a
 * channel removed meanwhile stays removed).
 */
export function countObserver(registry: Registry, channel: string, delta: 1 | -1): Change {
  const entry = registry.channels.get(channel) ?? (delta > 0 ? newChannel : undefined);
  if (entry === undefined) return { registry, changed: [] };
  const observers = Math.max(0, entry.observers + delta);
  return { registry: { ...registry, channels: registry.channels.set(channel, { ...entry, observers }) }, changed: [channel] };
}

/** The channels of `key` the method applies to, all checked before anything changes. */
function pairsOf(registry: Registry, id: SubscriberId, key: string, channels: readonly string[] | undefined): string[] {
  const own = registry.channelsBySubscriber.get(key);
  if (channels === undefined) {
    if (own === undefined) throw new UnknownSubscriberError(id);
    return [...own];
  }
  for (const channel of channels) {
    if (!registry.channels.has(channel)) throw new UnknownChannelError(channel);
    if (own?.has(channel) !== true) throw new UnknownSubscriberError(id, channel);
  }
  return [...channels];
}

function dropPair(subscriptions: Registry['channelsBySubscriber'], key: string, channel: string): Registry['channelsBySubscriber'] {
  const rest = subscriptions.get(key)?.delete(channel);
  return rest === undefined || rest.size === 0 ? subscriptions.delete(key) : subscriptions.set(key, rest);
}
