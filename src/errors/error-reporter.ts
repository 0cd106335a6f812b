import { Subject, type Observable } from 'rxjs';

import type { NotifierError } from './notifier-error.js';

/**
 * Where non-fatal problems go: `errors$` while someone subscribes to it, otherwise one process
 * warning per kind of error (rather than failing silently, or crashing the process).
 */
export class ErrorReporter {
  readonly #errors = new Subject<NotifierError>();
  readonly #warned = new Set<string>();

  /** Every problem reported, while it has subscribers; completes on `complete()`. */
  readonly errors$: Observable<NotifierError> = this.#errors.asObservable();

  /** Reports one problem. An arrow-function property, so it can be handed out as a callback. */
  readonly report = (error: NotifierError): void => {
    if (this.#errors.observed) {
      this.#errors.next(error);
    } else if (!this.#warned.has(error.name)) {
      this.#warned.add(error.name);
      process.emitWarning(
        `${error.message} (subscribe to notifier.errors$ to handle these; all are counted in status().counters)`,
        error.name,
      );
    }
  };

  /** Completes `errors$`; later reports are dropped. */
  complete(): void {
    this.#errors.complete();
  }
}
