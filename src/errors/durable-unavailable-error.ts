import { NotifierError } from './notifier-error.js';

/**
 * Durable channels cannot be used:
 *
 * - thrown synchronously by a durable call (`install`, `publish`, `channel$(…, { durable: true })`,
 *   `subscribe(…, { durable: true })`, `unsubscribe(…, { forget: true })`) on a notifier whose
 *   source has no durable part, e.g. a `MemorySource` given none (`schema` absent). Nothing is
 *   changed;
 * - or the durable schema is missing from the database (`schema` names it, `cause` is the server's
 *   error): `publish` rejects with it, and readers report it on `errors$` (once, until the schema
 *   is found again) while they keep retrying, so they start reading once it is installed.
 */
export class DurableUnavailableError extends NotifierError {
  /** `'DurableUnavailableError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'DurableUnavailableError' as const;

  /** The missing durable schema; absent when the notifier has no durable part at all. */
  readonly schema?: string;

  constructor(
    /** The method that needed durable channels. */
    readonly method: string,
    /** `schema`: the durable schema found missing; `cause`: the server's error saying so. */
    options?: { readonly schema: string; readonly cause?: unknown },
  ) {
    super(
      options === undefined
        ? `${method}: durable channels are not available on this notifier (its source has no durable part; ` +
            'give a PostgreSQL connection, or a source with `durable`)'
        : `${method}: the durable schema ${JSON.stringify(options.schema)} is missing: run notifier.install(), ` +
            `\`pgnotifier install${options.schema === 'pgnotifier' ? '' : ` --schema ${options.schema}`}\`, or durableSchemaSql() in a migration`,
      options && { cause: options.cause },
    );
    if (options !== undefined) this.schema = options.schema;
  }
}
