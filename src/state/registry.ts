import { OrderedMap, type OrderedSet } from 'immutable';

import { UnknownChannelError } from '../errors/unknown-channel-error.js';

import type { SubscriberId } from '../types.js';

/**
 * One (subscriber, channel) pair, as the views show it. Its callback lives with its Subscription
 * in the channel (`Channel.subscribe`), the delivery side.
 */
export interface SubscriptionEntry {
  /** The id as given (a private copy). */
  readonly id: SubscriberId;
  /** The id's key, see `subscriberKey`. */
  readonly key: string;
  /** The subscriber's own mute flag on this channel (kept while the channel is muted). */
  readonly muted: boolean;
  /** A durable consumer (`subscribe(…, { durable: true })`); absent for a plain subscriber. */
  readonly durable?: true;
}

/** One registered channel. */
export interface ChannelEntry {
  /** Muted channels deliver nothing and are not LISTENed; their subscribers keep their flags. */
  readonly muted: boolean;
  /** How many `channel$` observers are subscribed. */
  readonly observers: number;
  /** The callback subscribers, by id key, in the order they subscribed. */
  readonly subscribers: OrderedMap<string, SubscriptionEntry>;
}

/**
 * The whole registry: the source of truth for the views (`channels()`, `subscribers()`, `status()`,
 * the Python API's persistent state). Delivery and LISTEN are the channels' RxJS graph
 * (`src/routing/`), changed alongside it by the notifier. A persistent immutable value. Every change makes a new one in O(log n),
 * sharing the rest, so a view or a commit is never a copy of everything.
 */
export interface Registry {
  /** Registered channels, in registration order. */
  readonly channels: OrderedMap<string, ChannelEntry>;
  /** For each subscriber id key, the channels it is subscribed to. */
  readonly channelsBySubscriber: OrderedMap<string, OrderedSet<string>>;
}

/** The registry with nothing in it. */
export const emptyRegistry: Registry = { channels: OrderedMap(), channelsBySubscriber: OrderedMap() };

/** A channel with no consumer, not muted. */
export const newChannel: ChannelEntry = { muted: false, observers: 0, subscribers: OrderedMap() };

/**
 * The entry of a channel the caller knows is registered (its reducer checked it first).
 *
 * @throws {@link UnknownChannelError} if it is not, rather than hand back `undefined`.
 */
export function entryOf(channels: Registry['channels'], channel: string): ChannelEntry {
  const entry = channels.get(channel);
  if (entry === undefined) throw new UnknownChannelError(channel);
  return entry;
}
