import { NotifierError } from './notifier-error.js';

/**
 * Durable channels cannot be used:
 *
 * - thrown synchronously by a durable call (`install`, `publish`, `channel$(…, { durable: true })`,
 *   `subscribe(…, { durable: true })`, `unsubscribe(…, { forget: true })`) on a notifier whose
 *   source has no durable part, e.g. a `MemorySource` given none (`schema` absent). Nothing is
 *   changed;
 * - or the durable schema is missing from the database, or was made by an earlier version and must
 *   be upgraded by installing it again (`schema` names it, `outdated` says which, `cause` is the
 *   server's error): `publish` rejects with it, and readers report it on `errors$` (once, until the
 *   schema is found again) while they keep retrying, so they start reading once it is installed.
 */
export class DurableUnavailableError extends NotifierError {
  /** `'DurableUnavailableError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'DurableUnavailableError' as const;

  /** The missing durable schema; absent when the notifier has no durable part at all. */
  readonly schema?: string;

  /** `true`: the schema is there, made by an earlier version; installing it again upgrades it in place. */
  readonly outdated: boolean = false;

  constructor(
    /** The method that needed durable channels. */
    readonly method: string,
    /** `schema`: the durable schema found missing (or `outdated`); `cause`: the server's error saying so. */
    options?: { readonly schema: string; readonly cause?: unknown; readonly outdated?: boolean },
  ) {
    const install =
      options === undefined
        ? ''
        : `run notifier.install(), \`pgnotifier install${options.schema === 'pgnotifier' ? '' : ` --schema ${options.schema}`}\`, or durableSchemaSql() in a migration`;
    super(
      options === undefined
        ? `${method}: durable channels are not available on this notifier (its source has no durable part; ` +
            'give a PostgreSQL connection, or a source with `durable`)'
        : options.outdated === true
          ? `${method}: the durable schema ${JSON.stringify(options.schema)} was made by an earlier version of pgnotifier: ${install} to upgrade it in place`
          : `${method}: the durable schema ${JSON.stringify(options.schema)} is missing: ${install}`,
      options && { cause: options.cause },
    );
    if (options !== undefined) this.schema = options.schema;
    if (options?.outdated === true) this.outdated = true;
  }
}
