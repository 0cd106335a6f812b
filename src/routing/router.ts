import type { RawNotification } from '../source/notification-source.js';
import type { Registry } from '../state/registry.js';
import { ChannelHub, type HubContext } from './channel-hub.js';

/**
 * Where a notification is routed: one map lookup to its channel's hub, whatever the number of
 * channels (a `filter` per channel would test every channel for every notification).
 */
export class Router {
  readonly #hubs = new Map<string, ChannelHub>();
  readonly #context: HubContext;

  constructor(context: HubContext) {
    this.#context = context;
  }

  /** The hub of a registered channel. */
  hub(channel: string): ChannelHub | undefined {
    return this.#hubs.get(channel);
  }

  /** Routes one notification to its channel. */
  route = (notification: RawNotification): void => {
    this.#context.counters.received++;
    const hub = this.#hubs.get(notification.channel);
    if (hub === undefined) this.#context.counters.unrouted++;
    else hub.push(notification);
  };

  /** Creates, updates or completes the hubs of `channels` to match the registry. */
  sync(registry: Registry, channels: readonly string[]): void {
    for (const channel of channels) {
      const entry = registry.channels.get(channel);
      const hub = this.#hubs.get(channel);
      if (entry === undefined) {
        this.#hubs.delete(channel);
        hub?.complete();
      } else if (hub === undefined) {
        this.#hubs.set(channel, new ChannelHub(channel, entry, this.#context));
      } else {
        hub.update(entry);
      }
    }
  }

  /** Completes every hub. */
  close(): void {
    const hubs = [...this.#hubs.values()];
    this.#hubs.clear();
    for (const hub of hubs) hub.complete();
  }
}
