import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { ParseOption, PayloadParser } from '../types.js';

/**
 * The default parser: `JSON.parse`, and the raw text when that fails. Every payload arrives:
 * `''` and `hello` as strings, `true`, `null`, `42`, `"x"`, `{"a":1}` and `[1,2]` as JSON values.
 */
export const parseJsonOrRaw: PayloadParser = (raw) => {
  // Text that cannot start a JSON value skips JSON.parse: a throw costs far more than this test.
  if (raw.length === 0 || !startsJson(raw.charCodeAt(0))) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
};

/** Whether a character can open a JSON text: `{ [ " - 0-9 t f n` or JSON white space. */
function startsJson(code: number): boolean {
  return (
    code === 0x7b || // {
    code === 0x5b || // [
    code === 0x22 || // "
    code === 0x2d || // -
    (code >= 0x30 && code <= 0x39) ||
    code === 0x74 || // t
    code === 0x66 || // f
    code === 0x6e || // n
    code === 0x20 ||
    code === 0x09 ||
    code === 0x0a ||
    code === 0x0d
  );
}

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
