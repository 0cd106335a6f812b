import { BehaviorSubject, share, type Observable, type Subscriber } from 'rxjs';

import type { NotifierError } from '../errors/notifier-error.js';
import { PayloadParseError } from '../errors/payload-parse-error.js';
import { SubscriberError } from '../errors/subscriber-error.js';
import { parseNotifications } from '../payload/parse-notifications.js';
import type { RawNotification } from '../source/notification-source.js';
import type { ChannelEntry, SubscriptionEntry } from '../state/registry.js';
import type { Notification, PayloadParser } from '../types.js';
import type { Counters } from './counters.js';
import { HotStream } from '../shared/hot-stream.js';

/** What every hub shares with the notifier. */
export interface HubContext {
  /** The notifier's default parser. */
  readonly parse: PayloadParser;
  /** Where problems go (`errors$`). */
  readonly report: (error: NotifierError) => void;
  /** The notifier's counters. */
  readonly counters: Counters;
}

/**
 * One registered channel: where its notifications are gated by its mute state, parsed once,
 * multicast to its `channel$` observers, and fanned out to its callback subscribers.
 *
 * ```
 * push ─▶ gate: muted? (BehaviorSubject) ─▶ parse ─┬▶ HotStream ─▶ channel$ observers
 *                                            │      └▶ one loop over the callbacks
 *                                            └▶ raw HotStream ─▶ parse ─▶ share ─▶ observers with their own parser
 * ```
 *
 * Every notification takes this path, so it is a few plain calls rather than a chain of
 * operators (switchMap, parse, share and a subscription per consumer would each add a layer).
 */
export class ChannelHub {
  /** The mute state: it gates delivery here and drives LISTEN/UNLISTEN through the registry. */
  readonly #muted: BehaviorSubject<boolean>;
  /** Notifications parsed with the notifier's parser, for `channel$` observers. */
  readonly #parsed = new HotStream<Notification>();
  /** Raw notifications, for `channel$` pipelines with their own parser. */
  readonly #raw = new HotStream<RawNotification>();
  readonly #context: HubContext;
  #callbacks: readonly CallbackTarget[] = [];

  constructor(
    readonly channel: string,
    entry: ChannelEntry,
    context: HubContext,
  ) {
    this.#context = context;
    this.#muted = new BehaviorSubject(entry.muted);
    this.update(entry);
  }

  /**
   * A notification for this channel, from the router. Muted channels deliver nothing, including
   * notifications that were already on the wire when the mute was asked for.
   */
  push(raw: RawNotification): void {
    if (this.#muted.getValue()) return;
    this.#raw.next(raw);
    const callbacks = this.#callbacks;
    const observers = this.#parsed.size;
    if (callbacks.length === 0 && observers === 0) return;
    const { parse, counters } = this.#context;
    let payload: unknown;
    try {
      payload = parse(raw.payload, raw.channel);
    } catch (cause) {
      this.#reportParseError(new PayloadParseError(raw.channel, raw.payload, { cause }));
      return;
    }
    if (observers > 0) {
      counters.delivered += observers;
      this.#parsed.next({ channel: raw.channel, payload, pid: raw.pid });
    }
    // Callbacks take the parts as arguments: no object is made for them.
    if (callbacks.length > 0) this.#fanOut(callbacks, raw.channel, payload, raw.pid);
  }

  /**
   * Subscribes a `channel$` observer that uses the notifier's parser. It completes with the hub
   * and leaves when its subscription ends.
   */
  observe(subscriber: Subscriber<Notification>): void {
    this.#parsed.add(subscriber);
  }

  /** The channel's notifications parsed with another parser, shared by one `channel$` call's observers. */
  parsedWith<T>(parse: PayloadParser<T>): Observable<Notification<T>> {
    // eslint-disable-next-line rxjs-x/no-unbound-methods -- an arrow-function property: bound
    return this.#raw.observable.pipe(parseNotifications(parse, this.#reportParseError), share());
  }

  /** Brings the gate and the callback list in line with the channel's registry entry. */
  update(entry: ChannelEntry): void {
    if (entry.muted !== this.#muted.getValue()) this.#muted.next(entry.muted);
    const callbacks: CallbackTarget[] = [];
    for (const subscription of entry.subscribers.values()) {
      if (!subscription.muted) callbacks.push(new CallbackTarget(subscription));
    }
    this.#callbacks = callbacks;
  }

  /** The channel is gone: its observers complete and its callbacks stop. */
  complete(): void {
    this.#callbacks = [];
    this.#parsed.complete();
    this.#raw.complete();
    this.#muted.complete();
  }

  // One plain loop calls every callback; the callbacks array is replaced, never changed, so a
  // callback that subscribes or unsubscribes others does not disturb this notification's round.
  // The loop body stays small (the rare paths are methods of their own) so it inlines well.
  #fanOut(callbacks: readonly CallbackTarget[], channel: string, payload: unknown, pid: number): void {
    this.#context.counters.delivered += callbacks.length;
    for (const target of callbacks) {
      try {
        const result = target.callback(target.id, channel, payload, pid);
        if (result !== undefined && isThenable(result)) this.#watch(target, result);
      } catch (cause) {
        this.#callbackFailed(target, cause);
      }
    }
  }

  /** A callback returned a promise: a rejection is reported like a throw. */
  #watch(target: CallbackTarget, result: PromiseLike<unknown>): void {
    result.then(undefined, (cause: unknown) => {
      this.#callbackFailed(target, cause);
    });
  }

  #callbackFailed(target: CallbackTarget, cause: unknown): void {
    this.#context.counters.callbackErrors++;
    this.#context.report(new SubscriberError(target.id, this.channel, { cause }));
  }

  readonly #reportParseError = (error: NotifierError): void => {
    this.#context.counters.parseErrors++;
    this.#context.report(error);
  };
}

/**
 * What the fan-out loop reads: every target has this one shape, so the loop's property reads
 * stay monomorphic (registry entries come in several shapes from their spreads).
 */
class CallbackTarget {
  readonly id: SubscriptionEntry['id'];
  readonly callback: SubscriptionEntry['callback'];

  constructor(subscription: SubscriptionEntry) {
    this.id = subscription.id;
    this.callback = subscription.callback;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
