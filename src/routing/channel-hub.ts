import { BehaviorSubject, EMPTY, Subject, type Observable, type Subscription } from 'rxjs';
import { share, switchMap } from 'rxjs/operators';

import type { NotifierError } from '../errors/notifier-error.js';
import { SubscriberError } from '../errors/subscriber-error.js';
import { parseNotifications } from '../payload/parse-notifications.js';
import type { RawNotification } from '../source/notification-source.js';
import type { ChannelEntry, SubscriptionEntry } from '../state/registry.js';
import type { Notification, PayloadParser } from '../types.js';
import type { Counters } from './counters.js';

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
 * One registered channel's streams: where its notifications are gated by its mute state, parsed,
 * multicast, and fanned out to its callback subscribers.
 *
 * ```
 * push ─▶ input ─▶ switchMap(muted ? EMPTY : input) ─▶ parse ─▶ share ─┬▶ channel$ observers
 *                        ▲ muted (BehaviorSubject)                      └▶ one loop over the callbacks
 * ```
 */
export class ChannelHub {
  readonly #input = new Subject<RawNotification>();
  readonly #muted: BehaviorSubject<boolean>;
  readonly #context: HubContext;
  #callbacks: readonly CallbackTarget[] = [];
  #dispatch: Subscription | undefined;

  /**
   * The channel's notifications while it is not muted, unparsed. Muting switches to `EMPTY`:
   * observers stay subscribed and hear nothing until it is unmuted.
   */
  readonly open$: Observable<RawNotification>;
  /** `open$` parsed with the notifier's parser, shared by every consumer that uses it. */
  readonly parsed$: Observable<Notification>;

  constructor(
    readonly channel: string,
    entry: ChannelEntry,
    context: HubContext,
  ) {
    this.#context = context;
    this.#muted = new BehaviorSubject(entry.muted);
    this.open$ = this.#muted.pipe(switchMap((muted) => (muted ? EMPTY : this.#input)));
    this.parsed$ = this.open$.pipe(parseNotifications(context.parse, this.#reportParseError), share());
    this.update(entry);
  }

  /** A notification for this channel, from the router. */
  push(notification: RawNotification): void {
    this.#input.next(notification);
  }

  /** `open$` parsed with another parser, shared by the observers of one `channel$` call. */
  parsedWith<T>(parse: PayloadParser<T>): Observable<Notification<T>> {
    return this.open$.pipe(parseNotifications(parse, this.#reportParseError), share());
  }

  /** Brings the gate and the callback list in line with the channel's registry entry. */
  update(entry: ChannelEntry): void {
    if (entry.muted !== this.#muted.getValue()) this.#muted.next(entry.muted);
    const callbacks: CallbackTarget[] = [];
    for (const subscription of entry.subscribers.values()) {
      if (!subscription.muted) callbacks.push(new CallbackTarget(subscription));
    }
    this.#callbacks = callbacks;
    if (callbacks.length > 0) {
      this.#dispatch ??= this.parsed$.subscribe(this.#fanOut);
    } else {
      this.#dispatch?.unsubscribe();
      this.#dispatch = undefined;
    }
  }

  /** The channel is gone: its observers complete and its callbacks stop. */
  complete(): void {
    this.#dispatch?.unsubscribe();
    this.#dispatch = undefined;
    this.#callbacks = [];
    this.#input.complete();
    this.#muted.complete();
  }

  // One subscription per channel calls every callback in a plain loop: a subscription per callback
  // would put several RxJS layers between a notification and each of a hundred callbacks.
  readonly #fanOut = (notification: Notification): void => {
    const { counters, report } = this.#context;
    const callbacks = this.#callbacks;
    counters.delivered += callbacks.length;
    for (const { id, callback } of callbacks) {
      try {
        const result = callback(id, notification.channel, notification.payload, notification.pid);
        if (isThenable(result)) {
          result.then(undefined, (cause: unknown) => {
            counters.callbackErrors++;
            report(new SubscriberError(id, notification.channel, { cause }));
          });
        }
      } catch (cause) {
        counters.callbackErrors++;
        report(new SubscriberError(id, notification.channel, { cause }));
      }
    }
  };

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
