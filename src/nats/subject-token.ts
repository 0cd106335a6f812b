import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

// Letters, digits, `_` and `-` stand for themselves; every other UTF-8 byte becomes `=` and two
// upper-case hex digits. `=` is escaped too, so decoding is unambiguous and two names never share
// a token. The result never holds `.`, `*`, `>`, whitespace or control characters, which NATS
// subjects reserve, and is at most 3 × 63 characters for the longest channel name.
const PLAIN = /^[A-Za-z0-9_-]$/;
const TOKEN = /^(?:[A-Za-z0-9_-]|=[0-9A-F]{2})+$/;

/**
 * Encodes a PostgreSQL channel name as one NATS subject token, reversibly.
 *
 * @example
 * ```ts
 * import { encodeSubjectToken } from 'pgnotifier/nats';
 *
 * encodeSubjectToken('orders'); // 'orders'
 * encodeSubjectToken('a.b *'); // 'a=2Eb=20=2A'
 * ```
 */
export function encodeSubjectToken(channel: string): string {
  let token = '';
  for (const char of channel) {
    if (PLAIN.test(char)) {
      token += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) token += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return token;
}

/**
 * The channel name a token stands for: the inverse of {@link encodeSubjectToken}.
 *
 * @throws `InvalidArgumentError` when `token` is not one that `encodeSubjectToken` makes.
 */
export function decodeSubjectToken(token: string): string {
  if (!TOKEN.test(token)) throw new InvalidArgumentError(`Not a pgnotifier subject token: ${JSON.stringify(token)}`);
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  const decoded = Buffer.from(bytes);
  const channel = decoded.toString('utf8');
  // Escapes of bytes that are not valid UTF-8 never come from a channel name.
  if (!Buffer.from(channel, 'utf8').equals(decoded) || encodeSubjectToken(channel) !== token) {
    throw new InvalidArgumentError(`Not a pgnotifier subject token: ${JSON.stringify(token)}`);
  }
  return channel;
}

const PREFIX = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/**
 * Checks a subject prefix: dot-separated tokens of letters, digits, `_` and `-`.
 *
 * @throws `InvalidArgumentError` otherwise.
 */
export function validateSubjectPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new InvalidArgumentError(
      `subjectPrefix must be dot-separated tokens of letters, digits, '_' and '-' (e.g. 'pgnotifier' or 'app.pg'), got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

/** The core NATS subject of a plain channel: `<prefix>.p.<token>`. */
export function plainSubject(prefix: string, channel: string): string {
  return `${prefix}.p.${encodeSubjectToken(channel)}`;
}

/** The JetStream subject of a durable channel: `<prefix>.d.<token>`. */
export function durableSubject(prefix: string, channel: string): string {
  return `${prefix}.d.${encodeSubjectToken(channel)}`;
}

/** The subject on which the leading relay announces itself and its takeovers: `<prefix>.relay`. */
export function relaySubject(prefix: string): string {
  return `${prefix}.relay`;
}
