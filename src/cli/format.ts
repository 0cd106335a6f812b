import { inspect } from 'node:util';

import type { Notification } from '../types.js';

/** The most characters of a payload `--pretty` shows; the JSON lines always carry it whole. */
export const PRETTY_MAX_CHARS = 1_000;

/**
 * One notification as one JSON line, `{"channel","payload","pid","receivedAt"}`: the format to pipe
 * into `jq` or another program.
 *
 * A payload that is JSON is spliced into the line as the text received, never parsed and
 * re-encoded, so `12345678901234567890`, `1e400`, `-0` and key order arrive byte for byte; only
 * line breaks between its tokens become spaces, to keep one line per notification (JSON allows no
 * raw line break inside a string, so no value changes). Any other payload is a JSON string of its
 * text, so the text `hello` and the JSON string `"hello"` print alike, as the library's default
 * parser gives both as the string `hello`.
 *
 * @param notification - received with the `'raw'` parser: the payload is the text as sent.
 */
export function jsonLine(notification: Notification<string>, receivedAt: Date): string {
  const raw = notification.payload;
  const payload = isJson(raw) ? oneLine(raw) : JSON.stringify(raw);
  return `{"channel":${JSON.stringify(notification.channel)},"payload":${payload},"pid":${notification.pid},"receivedAt":${JSON.stringify(receivedAt.toISOString())}}\n`;
}

/**
 * One notification for a person: local time, channel, sender and the payload on one line. A JSON
 * payload shows as its text (so numbers are exactly what was sent), any other text in single
 * quotes; control and bidirectional characters are escaped so a payload cannot drive the
 * terminal, and a payload longer than {@link PRETTY_MAX_CHARS} is cut, saying so.
 *
 * @param notification - received with the `'raw'` parser: the payload is the text as sent.
 */
export function prettyLine(notification: Notification<string>, receivedAt: Date): string {
  const time = receivedAt.toTimeString().slice(0, 8) + '.' + String(receivedAt.getMilliseconds()).padStart(3, '0');
  const raw = notification.payload;
  const shown = isJson(raw) ? oneLine(raw) : inspect(raw, { breakLength: Infinity, maxStringLength: Infinity });
  return `${time}  ${printable(notification.channel)}  pid ${notification.pid}  ${printable(cut(shown))}\n`;
}

/** Whether a payload's text is JSON (what the library's default parser would parse). */
export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Valid JSON has line breaks only between tokens, where a space means the same. */
function oneLine(json: string): string {
  return json.replace(/[\r\n]/g, ' ');
}

function cut(text: string): string {
  if (text.length <= PRETTY_MAX_CHARS) return text;
  // Never split a surrogate pair.
  let end = PRETTY_MAX_CHARS;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}… (cut: ${end} of ${text.length} characters shown; without --pretty every payload prints whole)`;
}

/** C0 and C1 controls, DEL, line and paragraph separators, and bidirectional overrides/isolates. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Escapes what would move the cursor, recolour or reorder a terminal's text, as `\uXXXX`. */
function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
