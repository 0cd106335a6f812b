import { BehaviorSubject, type Observable } from 'rxjs';

import type { Change } from './reducers.js';
import { emptyRegistry, type Registry } from './registry.js';

/**
 * Holds the current {@link Registry} in a BehaviorSubject. Reducers run against the current value
 * and only a successful result is committed, so a reducer that throws leaves the state as it was.
 */
export class RegistryStore {
  readonly #commits = new BehaviorSubject<Change>({ registry: emptyRegistry, changed: [] });

  /** Every commit, the current one first. */
  readonly commits$: Observable<Change> = this.#commits.asObservable();

  /** The current registry. */
  get registry(): Registry {
    return this.#commits.getValue().registry;
  }

  /** Runs `reducer` on the current registry and commits the result when it changed anything. */
  apply(reducer: (registry: Registry) => Change): Change {
    const change = reducer(this.registry);
    if (change.changed.length > 0) this.#commits.next(change);
    return change;
  }

  /** Empties the registry (at `close()`: the views then show nothing registered). */
  clear(): void {
    const { registry } = this;
    this.#commits.next({ registry: emptyRegistry, changed: [...registry.channels.keys()] });
  }

  /** Completes `commits$`. */
  close(): void {
    this.#commits.complete();
  }
}
