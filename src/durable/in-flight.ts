/**
 * Promises under way, waited for as a group: each is held until it settles. The notifier makes
 * `synced()` and `publish()` wait for its durable starts with one; a durable source makes `forget`
 * wait for the starts of one consumer with one per (consumer, channel).
 */
export class InFlight {
  readonly #promises = new Set<Promise<unknown>>();

  /** How many are under way. */
  get size(): number {
    return this.#promises.size;
  }

  /** Holds `promise` until it settles, and returns it (its rejection is still the caller's). */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#promises.add(promise);
    const done = () => {
      this.#promises.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }

  /** Settles once every promise held now has settled, whatever its outcome. */
  settled(): Promise<void> {
    if (this.#promises.size === 0) return Promise.resolve();
    return Promise.allSettled([...this.#promises]).then(() => undefined);
  }
}
