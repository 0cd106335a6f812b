import { NotifierError } from './notifier-error.js';

/**
 * Thrown synchronously when an argument has the wrong type or value (a subscriber id that is not
 * a string, number or array of those, a callback that is not a function, an option out of range).
 * Nothing has changed when it is thrown.
 */
export class InvalidArgumentError extends NotifierError {
  /** `'InvalidArgumentError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'InvalidArgumentError' as const;
}
