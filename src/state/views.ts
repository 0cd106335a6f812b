/**
 * Read-only views of the {@link Registry}. Each returns a fresh, JSON-serialisable snapshot that
 * shares nothing with the registry.
 */
import { UnknownChannelError } from '../errors/unknown-channel-error.js';
import type { Counters } from '../routing/counters.js';
import type { NotifierStatus } from '../status.js';
import type { ConnectionState, SubscriberId } from '../types.js';
import { entryOf, type ChannelEntry, type Registry } from './registry.js';
import { subscriberIdOf } from './subscriber-id.js';

/** One channel, as `Notifier.channels()` shows it. */
export interface ChannelView {
  /** The channel's own mute flag. */
  readonly muted: boolean;
  /** Whether the server has acknowledged its LISTEN on the current connection. */
  readonly active: boolean;
  /** How many `channel$` observers it has. */
  readonly observers: number;
  /** Its callback subscribers, in subscription order, with their own mute flags. */
  readonly subscribers: {
    /** The subscriber id. */
    readonly id: SubscriberId;
    /** The subscriber's own mute flag on this channel. */
    readonly muted: boolean;
    /** `true` for a durable consumer; absent for a plain subscriber. */
    readonly durable?: true;
  }[];
}

/** One subscriber, as `Notifier.subscribers()` shows it. */
export interface SubscriberView {
  /** The subscriber id. */
  readonly id: SubscriberId;
  /** Its channels: its own mute flag there, the channel's, and whether the channel is LISTENed. */
  readonly channels: Record<
    string,
    {
      /** The subscriber's own mute flag on this channel. */
      readonly muted: boolean;
      /** The channel's mute flag. */
      readonly channelMuted: boolean;
      /** Whether the server has acknowledged the channel's LISTEN on the current connection. */
      readonly active: boolean;
      /** `true` for a durable consumer; absent for a plain subscriber. */
      readonly durable?: true;
    }
  >;
}

/** Every channel with its state and subscribers. */
export function channelsView(registry: Registry, active: ReadonlySet<string>): Record<string, ChannelView> {
  const view: Record<string, ChannelView> = {};
  for (const [channel, entry] of registry.channels) {
    view[channel] = {
      muted: entry.muted,
      active: active.has(channel),
      observers: entry.observers,
      subscribers: [...entry.subscribers.values()].map((s) => ({
        id: subscriberIdOf(s.key),
        muted: s.muted,
        ...(s.durable === true ? { durable: true as const } : {}),
      })),
    };
  }
  return view;
}

/** Every subscriber id with its channels. */
export function subscribersView(registry: Registry, active: ReadonlySet<string>): SubscriberView[] {
  return [...registry.channelsBySubscriber].map(([key, channels]) => {
    const view: SubscriberView['channels'] = {};
    for (const channel of channels) {
      const entry = entryOf(registry.channels, channel);
      const subscription = entry.subscribers.get(key);
      view[channel] = {
        muted: subscription?.muted ?? false,
        channelMuted: entry.muted,
        active: active.has(channel),
        ...(subscription?.durable === true ? { durable: true as const } : {}),
      };
    }
    return { id: subscriberIdOf(key), channels: view };
  });
}

/** The given channels (all when none are given) whose mute flag is `muted`. */
export function channelsByMute(registry: Registry, channels: readonly string[] | undefined, muted: boolean): string[] {
  return entriesOf(registry, channels)
    .filter(([, entry]) => entry.muted === muted)
    .map(([channel]) => channel);
}

/** For each given channel (all when none are given), the subscriber ids whose own flag is `muted`. */
export function subscribersByMute(
  registry: Registry,
  channels: readonly string[] | undefined,
  muted: boolean,
): Record<string, SubscriberId[]> {
  const view: Record<string, SubscriberId[]> = {};
  for (const [channel, entry] of entriesOf(registry, channels)) {
    view[channel] = [...entry.subscribers.values()].filter((s) => s.muted === muted).map((s) => subscriberIdOf(s.key));
  }
  return view;
}

function entriesOf(registry: Registry, channels: readonly string[] | undefined): [string, ChannelEntry][] {
  if (channels === undefined) return [...registry.channels];
  return channels.map((channel) => {
    const entry = registry.channels.get(channel);
    if (entry === undefined) throw new UnknownChannelError(channel);
    return [channel, entry];
  });
}

/**
 * The `status()` snapshot. The connection error is serialised by hand (`name`, `message`, `code`
 * where it has one): `JSON.stringify` of an Error keeps only its own enumerable properties.
 */
export function statusView(
  registry: Registry,
  active: ReadonlySet<string>,
  connection: ConnectionState,
  counters: Counters,
  running: boolean,
): NotifierStatus {
  let subscriptions = 0;
  let observers = 0;
  for (const entry of registry.channels.values()) {
    subscriptions += entry.subscribers.size;
    observers += entry.observers;
  }
  const { error, ...rest } = connection;
  return {
    running,
    connection: error === undefined ? rest : { ...rest, error: serializeError(error) },
    channels: registry.channels.size,
    activeChannels: [...active],
    mutedChannels: channelsByMute(registry, undefined, true),
    subscribers: registry.channelsBySubscriber.size,
    subscriptions,
    observers,
    counters: { ...counters },
  };
}

/** An error as plain data: `name`, `message`, and `code` when it has one (e.g. a SQLSTATE). */
export function serializeError(error: Error): SerializedError {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number'
    ? { name: error.name, message: error.message, code: String(code) }
    : { name: error.name, message: error.message };
}

/** An error in `status()`: what `JSON.stringify` keeps of it. */
export interface SerializedError {
  /** The error's class name, e.g. `ConnectionError`. */
  readonly name: string;
  /** What happened. */
  readonly message: string;
  /** A code where the error has one (a SQLSTATE, or a Node code such as `ECONNREFUSED`). */
  readonly code?: string;
}
