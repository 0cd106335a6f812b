import { OrderedMap, type OrderedSet } from 'immutable';

import { UnknownChannelError } from '../errors/unknown-channel-error.js';

import type { SubscriberCallback, SubscriberId } from '../types.js';

/** One (subscriber, channel) pair. */
export interface SubscriptionEntry {
  /** The id as given (a private copy). */
  readonly id: SubscriberId;
  /** The id's key, see `subscriberKey`. */
  readonly key: string;
  /** The subscriber's own mute flag on this channel (kept while the channel is muted). */
  readonly muted: boolean;
  /** The callback of this pair only: another channel of the same id keeps its own. */
  readonly callback: SubscriberCallback;
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
 * The whole registry: a persistent immutable value. Every change makes a new one in O(log n),
 * sharing the rest, so a view or a commit is never a copy of everything.
 */
export interface Registry {
  /** Registered channels, in registration order. */
  readonly channels: OrderedMap<string, ChannelEntry>;
  /** For each subscriber id key, the channels it is subscribed to. */
  readonly subscriptions: OrderedMap<string, OrderedSet<string>>;
}

/** The registry with nothing in it. */
export const emptyRegistry: Registry = { channels: OrderedMap(), subscriptions: OrderedMap() };

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

/**
 * The rule that decides LISTEN: a channel is LISTENed exactly when it is registered, not muted,
 * and has at least one non-muted consumer (a callback subscriber or a `channel$` observer).
 */
export function wantsListen(entry: ChannelEntry | undefined): boolean {
  if (entry === undefined || entry.muted) return false;
  return entry.observers > 0 || entry.subscribers.some((subscription) => !subscription.muted);
}
