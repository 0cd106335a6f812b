import {
  BehaviorSubject,
  combineLatest,
  distinctUntilChanged,
  EMPTY,
  map,
  Observable,
  share,
  Subject,
  switchMap,
  takeUntil,
  type Subscribable,
  type Subscription,
} from 'rxjs';

import type { NotifierError } from '../errors/notifier-error.js';
import type { PayloadParseError } from '../errors/payload-parse-error.js';
import { parseNotifications } from '../payload/parse-notifications.js';
import type { RawNotification } from '../source/notification-source.js';
import type { Notification, PayloadParser, SubscriberCallback, SubscriberId } from '../types.js';
import { ArrayMulticast } from './array-multicast.js';
import { CallbackFanOut, CallbackTarget } from './callback-fan-out.js';
import type { Counters } from './counters.js';

/** What every channel shares with the notifier. */
export interface ChannelContext {
  /** The notifier's default parser. */
  readonly parse: PayloadParser;
  /** Where problems go (`errors$`). */
  readonly report: (error: NotifierError) => void;
  /** The notifier's counters. */
  readonly counters: Counters;
}

/** One callback subscriber of a channel: its Subscription and its own mute state. */
interface CallbackSubscription {
  /** A plain subscriber's place in the fan-out; `undefined` for a durable subscriber. */
  readonly target: CallbackTarget | undefined;
  /** The subscriber's mute state on this channel; its Subscription switches over it. */
  readonly muted$: BehaviorSubject<boolean>;
  /** Its lifetime: unsubscribing it takes the callback out for good. */
  readonly subscription: Subscription;
}

/**
 * One registered channel, the unit of the design:
 *
 * ```
 * input ─▶ muted$.pipe(switchMap(muted ? EMPTY : parse(input))) ─▶ share({ connector }) = notifications$
 *                                                                         ├▶ channel$ observers
 *                                                                         └▶ CallbackFanOut ◀─ subscribers:
 *                 Map<subscriberKey, Subscription>, each muted$.pipe(switchMap(muted ? EMPTY : fanOut.member))
 * combineLatest([muted$, consumers$]) ─▶ map(wanted) ─▶ distinctUntilChanged() = wanted$ ─▶ ListenReconciler
 * ```
 *
 * A consumer is a `channel$` observer or a non-muted callback subscriber: whatever is subscribed
 * to the delivery path right now. So muting a subscriber (its switchMap goes to EMPTY) is what
 * takes it out of both the loop and the count that decides LISTEN.
 */
export class Channel {
  /** The channel's mute state: it gates delivery here and, through `wanted$`, LISTEN/UNLISTEN. */
  readonly #muted = new BehaviorSubject(false);

  /** The channel's mute state, current value first. */
  readonly muted$: Observable<boolean> = this.#muted.asObservable();

  /**
   * The channel's hot Observable: gated by `muted$` (a muted channel is unsubscribed from its
   * input, so even notifications already on the wire are dropped), parsed once with the
   * notifier's parser for every consumer, multicast with `share`. Subscribing to it does not
   * count as a consumer; use {@link Channel.observe}.
   */
  readonly notifications$: Observable<Notification>;

  /** Whether the channel should be LISTENed: not muted, and at least one consumer. */
  readonly wanted$: Observable<boolean>;

  /** The callback subscribers, by subscriber key: one RxJS Subscription per (id, channel). */
  readonly #subscribers = new Map<string, CallbackSubscription>();
  readonly #consumers = new BehaviorSubject(0);
  readonly #input: Subscribable<RawNotification>;
  readonly #fanOut: CallbackFanOut;
  readonly #context: ChannelContext;
  /** Emits once when the channel is gone: ends its durable observers. */
  readonly #removed = new Subject<void>();
  #completed = false;

  /**
   * @param name - the channel name.
   * @param input - this channel's raw notifications, from the router (hot).
   * @param context - parser, error reporting and counters shared with the notifier.
   */
  constructor(
    readonly name: string,
    input: Subscribable<RawNotification>,
    context: ChannelContext,
  ) {
    this.#context = context;
    this.#input = input;
    this.notifications$ = this.#gatedAndShared(context.parse);
    this.wanted$ = combineLatest([this.#muted, this.#consumers]).pipe(
      map(([muted, consumers]) => !muted && consumers > 0),
      distinctUntilChanged(),
    );
    this.#fanOut = new CallbackFanOut(name, this.notifications$, context.counters, context.report);
  }

  /** The current value of `wanted$`. */
  get wanted(): boolean {
    return !this.#muted.getValue() && this.#consumers.getValue() > 0;
  }

  /** How many consumers are attached now (observers plus non-muted callback subscribers). */
  get consumers(): number {
    return this.#consumers.getValue();
  }

  /** Mutes or unmutes the channel. */
  setMuted(muted: boolean): void {
    if (muted !== this.#muted.getValue()) this.#muted.next(muted);
  }

  /**
   * A `channel$` observer's view: the channel's notifications (parsed with `parse` when given,
   * shared by the observers of that one Observable), counted as a consumer while subscribed.
   */
  observe<T>(parse?: PayloadParser<T>): Observable<Notification<T>> {
    const source$ = parse === undefined ? (this.notifications$ as Observable<Notification<T>>) : this.#gatedAndShared(parse);
    const { counters } = this.#context;
    return this.#asConsumer(
      new Observable<Notification<T>>((subscriber) =>
        source$.subscribe({
          next: (notification) => {
            counters.delivered++;
            subscriber.next(notification);
          },
          error: (error: unknown) => {
            subscriber.error(error);
          },
          complete: () => {
            subscriber.complete();
          },
        }),
      ),
    );
  }

  /**
   * Subscribes a callback under `key`: an RxJS Subscription whose source is switched by the
   * subscriber's own mute state, `EMPTY` while muted. The same key again replaces the callback
   * and keeps the mute state.
   */
  subscribe(key: string, id: SubscriberId, callback: SubscriberCallback): void {
    const existing = this.#subscribers.get(key);
    if (existing?.target !== undefined) {
      existing.target.callback = callback;
      return;
    }
    if (existing !== undefined) throw new Error(`pgnotifier: ${key} is a durable subscriber of ${this.name}`);
    const target = new CallbackTarget(id, callback);
    const muted$ = new BehaviorSubject(false);
    // The source is chosen per subscriber: a durable subscriber switches over its own reader
    // instead of the channel's fan-out (subscribeDurable), with the same mute state and lifetime.
    const delivery$ = this.#asConsumer(this.#fanOut.member(target));
    const subscription = muted$.pipe(switchMap((muted) => (muted ? EMPTY : delivery$))).subscribe();
    this.#subscribers.set(key, { target, muted$, subscription });
  }

  /**
   * Subscribes a durable subscriber under `key`: an RxJS Subscription whose source is switched by
   * the channel's and the subscriber's mute state, `EMPTY` while either is muted (so `consume$`,
   * the durable consumer, is unsubscribed and its stored position holds) and `consume$` again on
   * unmute. It is not a consumer of the plain channel: it never makes the channel LISTENed (its
   * wake-ups come on the durable part's own channel). A key that is already subscribed is left as
   * it is (the caller replaces the callback it reads).
   */
  subscribeDurable(key: string, consume$: Observable<unknown>): void {
    if (this.#subscribers.has(key)) return;
    const muted$ = new BehaviorSubject(false);
    const subscription = combineLatest([this.#muted, muted$])
      .pipe(
        map(([channelMuted, muted]) => channelMuted || muted),
        distinctUntilChanged(),
        switchMap((muted) => (muted ? EMPTY : consume$)),
      )
      .subscribe();
    this.#subscribers.set(key, { target: undefined, muted$, subscription });
  }

  /** Whether `key` is subscribed, and how: `'plain'`, `'durable'`, or `undefined` when it is not. */
  subscriberKind(key: string): 'plain' | 'durable' | undefined {
    const entry = this.#subscribers.get(key);
    if (entry === undefined) return undefined;
    return entry.target === undefined ? 'durable' : 'plain';
  }

  /**
   * A durable `channel$` observer's view: `read()` while the channel is not muted, nothing while
   * it is (the reader is unsubscribed; `read()` is called again on unmute, so it should resume
   * from where the observer stood). Completes when the channel is removed. Not a consumer of the
   * plain channel.
   */
  observeDurable<T>(read: () => Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      if (this.#completed) {
        subscriber.complete();
        return undefined;
      }
      return this.#muted
        .pipe(
          distinctUntilChanged(),
          switchMap((muted) => (muted ? EMPTY : read())),
          takeUntil(this.#removed),
        )
        .subscribe(subscriber);
    });
  }

  /** Ends the Subscription of `key`; unknown keys are ignored. */
  unsubscribe(key: string): void {
    const entry = this.#subscribers.get(key);
    if (entry === undefined) return;
    this.#subscribers.delete(key);
    entry.subscription.unsubscribe();
    entry.muted$.complete();
  }

  /** Mutes or unmutes the subscriber of `key`; unknown keys are ignored. */
  setSubscriberMuted(key: string, muted: boolean): void {
    const entry = this.#subscribers.get(key);
    if (entry !== undefined && entry.muted$.getValue() !== muted) entry.muted$.next(muted);
  }

  /** How many callback subscribers it has, muted or not. */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /**
   * The channel is gone: its subscribers' Subscriptions end, its observers complete (once the
   * router completed its input, or at once while muted), `wanted$` completes.
   */
  complete(): void {
    if (this.#completed) return;
    const subscribers = [...this.#subscribers.values()];
    this.#subscribers.clear();
    for (const { subscription, muted$ } of subscribers) {
      subscription.unsubscribe();
      muted$.complete();
    }
    this.#removed.next();
    this.#removed.complete();
    this.#muted.complete();
    this.#completed = true;
    this.#consumers.complete();
  }

  /**
   * The channel's input parsed with `parse`, gated by the mute state and multicast: the parse is
   * the switchMap's inner Observable (so a muted channel neither receives nor parses), and
   * `share`'s connector is an {@link ArrayMulticast} rather than RxJS's `Subject`, which costs
   * a closure and an iterator per notification in RxJS 7's ES5 build (same-run figures in
   * `npm run bench -- 7`, "share({ connector })").
   */
  #gatedAndShared<T>(parse: PayloadParser<T>): Observable<Notification<T>> {
    const parsed$ = parseNotifications(this.#input, parse, this.#reportParseError);
    return this.#muted.pipe(
      switchMap((muted) => (muted ? EMPTY : parsed$)),
      share({ connector: () => new ArrayMulticast<Notification<T>>() }),
    );
  }

  /** Counts whoever subscribes to `source$` as a consumer of the channel while subscribed. */
  #asConsumer<T>(source$: Observable<T>): Observable<T> {
    const consumers = this.#consumers;
    return new Observable<T>((subscriber) => {
      const counted = !this.#completed;
      if (counted) consumers.next(consumers.getValue() + 1);
      const subscription = source$.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (counted && !this.#completed) consumers.next(consumers.getValue() - 1);
      };
    });
  }

  readonly #reportParseError = (error: PayloadParseError): void => {
    this.#context.counters.parseErrors++;
    this.#context.report(error);
  };
}
