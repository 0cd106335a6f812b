import { NotifierError } from './notifier-error.js';

/** Thrown by every method of a notifier after `close()`, except `close()` itself. */
export class NotifierClosedError extends NotifierError {
  override readonly name: string = 'NotifierClosedError';

  constructor(method: string) {
    super(`Cannot call ${method}(): the notifier is closed`);
  }
}
