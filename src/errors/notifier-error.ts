/**
 * Base class of every error pgnotifier throws or reports on `errors$`.
 *
 * Catch this to handle all of them; check `name` (or `instanceof` a subclass) to tell them apart.
 */
export class NotifierError extends Error {
  /** `'NotifierError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name: string = 'NotifierError';
}
