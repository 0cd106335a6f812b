import { Subscription, type Observer, type SubjectLike, type Unsubscribable } from 'rxjs';

/** One observer in the array; `attached` turns false the moment it leaves. */
interface Member<T> {
  readonly observer: Partial<Observer<T>>;
  attached: boolean;
}

/**
 * A hot multicast over an array of observers: a `SubjectLike`, for `share({ connector: () => new
 * ArrayMulticast() })` and for the router's per-channel input.
 *
 * Why not RxJS's `Subject`: Node loads RxJS 7's ES5 build, whose `Subject.next` allocates a
 * closure (`errorContext`) and an iterator (`__values`) on every call, and every notification
 * passes two of them on its way to a channel's observers. Here `next` is one indexed loop over
 * a snapshot of the members, rebuilt only after a change (as `Subject` does with
 * `currentObservers`). The gap is measured side by side in `npm run bench -- 7` (the rows
 * "share({ connector })").
 *
 * It behaves as a `Subject` does for the cases its spec checks (`marbles/array-multicast.spec.ts`):
 * a late observer gets only what comes after it; an observer that leaves during `next` is not
 * called again, in that round or later; an observer added during `next` gets the next value, not
 * the current one; a `next` from inside an observer reaches every observer before the outer one
 * goes on (depth first, as `Subject`); after `complete` or `error` nothing more is delivered and a
 * later observer gets the same end at once. An observer that throws stops the round and the
 * throw reaches the caller of `next` (RxJS's observers are Subscribers, which never throw).
 *
 * When the observer is a `Subscriber` (as `share` passes it, ignoring what `subscribe` returns),
 * its own teardown takes it out of the array, so an unsubscribed observer does not linger.
 */
export class ArrayMulticast<T> implements SubjectLike<T> {
  #members: Member<T>[] = [];
  #snapshot: readonly Member<T>[] | undefined;
  #ended: { readonly error: unknown } | 'complete' | undefined;

  /** How many observers are attached. */
  get size(): number {
    return this.#members.length;
  }

  next(value: T): void {
    if (this.#ended !== undefined) return;
    const members = (this.#snapshot ??= this.#members.slice());
    for (const member of members) if (member.attached) member.observer.next?.(value);
  }

  error(error: unknown): void {
    if (this.#ended !== undefined) return;
    this.#ended = { error };
    for (const member of this.#detachAll()) member.observer.error?.(error);
  }

  complete(): void {
    if (this.#ended !== undefined) return;
    this.#ended = 'complete';
    for (const member of this.#detachAll()) member.observer.complete?.();
  }

  subscribe(observer: Partial<Observer<T>>): Unsubscribable {
    const ended = this.#ended;
    if (ended !== undefined) {
      if (ended === 'complete') observer.complete?.();
      else observer.error?.(ended.error);
      return Subscription.EMPTY;
    }
    const member: Member<T> = { observer, attached: true };
    this.#members.push(member);
    this.#snapshot = undefined;
    const subscription = new Subscription(() => {
      this.#detach(member);
    });
    if (observer instanceof Subscription) observer.add(subscription);
    return subscription;
  }

  #detach(member: Member<T>): void {
    if (!member.attached) return;
    member.attached = false;
    const index = this.#members.indexOf(member);
    if (index !== -1) this.#members.splice(index, 1);
    this.#snapshot = undefined;
  }

  /** Every member leaves at once; returns them in order. */
  #detachAll(): Member<T>[] {
    const members = this.#members;
    this.#members = [];
    this.#snapshot = undefined;
    for (const member of members) member.attached = false;
    return members;
  }
}
