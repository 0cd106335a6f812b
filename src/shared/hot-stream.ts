import { Observable, type Subscriber } from 'rxjs';

/**
 * A minimal hot multicast for the per-notification path: `next` is one indexed loop over the
 * current subscribers.
 *
 * Why not a `Subject`: Node loads RxJS 7's ES5 build, whose `Subject.next` allocates a closure and
 * an iterator (plus one result object per observer) on every call. At hundreds of thousands of
 * notifications a second, passing through two of them, that garbage was the largest single cost
 * over the raw driver. Semantics match a Subject's for what we use: late subscribers get only
 * later values, a subscriber that leaves during a `next` still misses nothing already on its way
 * and gets nothing after, `complete()` completes everyone and later subscribers at once. Errors
 * are not multicast: nothing upstream of the router errors.
 */
export class HotStream<T> {
  /** Replaced, never changed in place, so a `next` in progress keeps its own list. */
  #subscribers: readonly Subscriber<T>[] = [];
  #completed = false;

  /** The stream to subscribe to. */
  readonly observable: Observable<T> = new Observable<T>((subscriber) => {
    this.add(subscriber);
  });

  /** How many subscribers it has now. */
  get size(): number {
    return this.#subscribers.length;
  }

  /** Subscribes an existing `Subscriber` directly, with no wrapper; it leaves when it closes. */
  add(subscriber: Subscriber<T>): void {
    if (this.#completed) {
      subscriber.complete();
      return;
    }
    this.#subscribers = [...this.#subscribers, subscriber];
    subscriber.add(() => {
      this.#remove(subscriber);
    });
  }

  next(value: T): void {
    const subscribers = this.#subscribers;
    // Subscriber.next ignores subscribers that have closed meanwhile. (Our build is ES2022: a
    // native for-of over an array, which V8 compiles to a plain loop.)
    for (const subscriber of subscribers) subscriber.next(value);
  }

  complete(): void {
    if (this.#completed) return;
    this.#completed = true;
    const subscribers = this.#subscribers;
    this.#subscribers = [];
    for (const subscriber of subscribers) subscriber.complete();
  }

  #remove(subscriber: Subscriber<T>): void {
    this.#subscribers = this.#subscribers.filter((other) => other !== subscriber);
  }
}
