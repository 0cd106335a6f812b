import { NotifierError } from './notifier-error.js';

/** Thrown by every method of a notifier after `close()`, except `close()` itself. */
export class NotifierClosedError extends NotifierError {
  /** `'NotifierClosedError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'NotifierClosedError' as const;

  constructor(method: string) {
    super(`Cannot call ${method}(): the notifier is closed`);
  }
}
