import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { ParseOption, PayloadParser } from '../types.js';

/**
 * The default parser: `JSON.parse`, and the raw text when that fails. Every payload arrives:
 * `''` and `hello` as strings, `true`, `null`, `42`, `"x"`, `{"a":1}` and `[1,2]` as JSON values.
 */
export const parseJsonOrRaw: PayloadParser = (raw) => {
  // Text that cannot start a JSON value skips JSON.parse: a throw costs far more than this test.
  if (raw.length === 0 || !JSON_START.test(raw)) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
};

const JSON_START = /^[\s{["\-0-9tfn]/;

/** The `'raw'` parser: the payload text as PostgreSQL delivered it. */
export const parseRaw: PayloadParser<string> = (raw) => raw;

/**
 * Resolves a {@link ParseOption} to a parser function.
 *
 * @throws {@link InvalidArgumentError} for anything else.
 */
export function resolveParser<T>(option: ParseOption<T> | undefined, fallback: PayloadParser<T>): PayloadParser<T> {
  if (option === undefined) return fallback;
  if (option === 'json') return parseJsonOrRaw as PayloadParser<T>;
  if (option === 'raw') return parseRaw as PayloadParser<T>;
  if (typeof option === 'function') return option;
  throw new InvalidArgumentError(`parse must be 'json', 'raw' or a function, got ${String(option)}`);
}
