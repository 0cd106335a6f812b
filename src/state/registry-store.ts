import { BehaviorSubject, type Observable } from 'rxjs';

import type { Change } from './reducers.js';
import { emptyRegistry, type Registry } from './registry.js';

/** One committed change: the new registry, what it touched, and whether to apply it now. */
export interface Commit extends Change {
  /** False for `autorun: false` changes: the server catches up at the next start. */
  readonly autorun: boolean;
}

/**
 * Holds the current {@link Registry} in a BehaviorSubject. Reducers run against the current value
 * and only a successful result is committed, so a reducer that throws leaves the state as it was.
 */
export class RegistryStore {
  readonly #commits = new BehaviorSubject<Commit>({ registry: emptyRegistry, changed: [], autorun: true });

  /** Every commit, the current one first. */
  readonly commits$: Observable<Commit> = this.#commits.asObservable();

  /** The current registry. */
  get registry(): Registry {
    return this.#commits.getValue().registry;
  }

  /** Runs `reducer` on the current registry and commits the result when it changed anything. */
  apply(reducer: (registry: Registry) => Change, autorun = true): Change {
    const change = reducer(this.registry);
    if (change.changed.length > 0) this.#commits.next({ ...change, autorun });
    return change;
  }

  /** Completes `commits$`. */
  close(): void {
    this.#commits.complete();
  }
}
