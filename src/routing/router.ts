import { Subject, type Observable } from 'rxjs';

import type { RawNotification } from '../source/notification-source.js';
import { ArrayMulticast } from './array-multicast.js';
import { Channel, type ChannelContext } from './channel.js';
import { newCounters } from './counters.js';

/**
 * A routed channel: the multicast the router pushes into, and the channel that reads it. The
 * input is an {@link ArrayMulticast}, not a `Subject`: its observers are the channel's parses
 * (see `parseNotifications`), called straight from its loop, with no closure or iterator per
 * notification.
 */
interface Route {
  readonly input: ArrayMulticast<RawNotification>;
  readonly channel: Channel;
  /** The notifier's own channel (the durable wake-ups): not counted among users' notifications. */
  readonly internal: boolean;
}

/**
 * Where a notification is routed: one map lookup from its channel name to that channel's input,
 * whatever the number of channels (a `filter` per channel would test every channel for every
 * notification).
 */
export class Router {
  readonly #routes = new Map<string, Route>();
  readonly #created = new Subject<Channel>();
  readonly #context: ChannelContext;

  /** Every channel as it is created; the reconciler merges their `wanted$`. */
  readonly channels$: Observable<Channel> = this.#created.asObservable();

  constructor(context: ChannelContext) {
    this.#context = context;
  }

  /** Routes one notification to its channel. An arrow-function property: passed as an observer. */
  readonly route = (notification: RawNotification): void => {
    const route = this.#routes.get(notification.channel);
    if (route?.internal !== true) this.#context.counters.received++;
    if (route === undefined) this.#context.counters.unrouted++;
    else route.input.next(notification);
  };

  /** The channel named `name`, if registered. */
  get(name: string): Channel | undefined {
    return this.#routes.get(name)?.channel;
  }

  /**
   * The channel named `name`, created when missing. An `internal` one (the notifier's own, e.g.
   * its durable wake-ups) counts in no counter: its notifications and deliveries are not users'.
   */
  ensure(name: string, internal = false): Channel {
    const existing = this.#routes.get(name);
    if (existing !== undefined) return existing.channel;
    const input = new ArrayMulticast<RawNotification>();
    const context = internal ? { ...this.#context, counters: newCounters() } : this.#context;
    const channel = new Channel(name, input, context);
    this.#routes.set(name, { input, channel, internal });
    this.#created.next(channel);
    return channel;
  }

  /**
   * Removes channels: all of them leave the map first, then each completes. An observer that,
   * on completion, registers one of them again gets a new channel, which the later completions
   * leave alone.
   */
  remove(names: readonly string[]): void {
    const removed: Route[] = [];
    for (const name of names) {
      const route = this.#routes.get(name);
      if (route === undefined) continue;
      this.#routes.delete(name);
      removed.push(route);
    }
    for (const { input, channel } of removed) {
      channel.complete();
      input.complete();
    }
  }

  /** Removes every channel; `channels$` completes. */
  close(): void {
    this.remove([...this.#routes.keys()]);
    this.#created.complete();
  }
}
