import { userInfo } from 'node:os';

import { messageOf } from '../errors/message-of.js';

import { UsageError } from './usage.js';

/** How long a connect may take before the CLI calls the server unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/** What stands for a secret in anything the CLI prints. */
const HIDDEN = '***';

/** The part of pg's config the CLI sets (our own shape, so the CLI needs nothing of @types/pg). */
export interface CliConfig {
  /** The URL given, passed to pg as is; without one pg fills everything from `PG*`. */
  readonly connectionString?: string;
  readonly connectionTimeoutMillis: number;
}

/** Where the CLI connects, and how to name that place in messages (never with the password). */
export interface CliConnection {
  /** Passed to pg: `connectionString` when one was given; pg fills the rest from `PG*`. */
  readonly config: CliConfig;
  /** `user@host:port/database`, for messages; a user name with a colon shows only what is before it. */
  readonly target: string;
  /**
   * Hides every secret of the connection in a text that came from elsewhere (pg's or the server's
   * error messages): the password, and whatever follows a colon in the user name (`role
   * "alice:s3cret" does not exist` when the colon of `alice%3As3cret@host` was encoded by mistake).
   */
  readonly redact: (text: string) => string;
}

/**
 * `--url`, else `DATABASE_URL`, else pg's own `PG*` variables.
 *
 * @throws {@link UsageError} when the URL given is not a postgres URL or has a malformed
 * %-escape (the message names the part, never its value).
 */
export function resolveConnection(url: string | undefined, env: NodeJS.ProcessEnv): CliConnection {
  const connectionString = url ?? nonEmpty(env.DATABASE_URL);
  const config = { connectionTimeoutMillis: CONNECT_TIMEOUT_MS };
  if (connectionString === undefined) {
    const user = nonEmpty(env.PGUSER) ?? safeUserName();
    const port = checkedPort(nonEmpty(env.PGPORT) ?? '5432', 'PGPORT');
    const target = `${shownUser(user)}@${nonEmpty(env.PGHOST) ?? 'localhost'}:${port}/${nonEmpty(env.PGDATABASE) ?? user}`;
    return { config, target, redact: redactor([secretOfUser(user), nonEmpty(env.PGPASSWORD)]) };
  }
  const source = url === undefined ? 'DATABASE_URL' : '--url';
  let parsed: URL;
  try {
    parsed = new URL(connectionString);
  } catch {
    throw new UsageError(`${source} is not a URL (expected postgres://user@host:port/database)`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UsageError(`expected a postgres:// URL in ${source}, got ${parsed.protocol}//…`);
  }
  // pg decodes these parts with decodeURIComponent, which throws on a malformed escape (and pg
  // quietly takes some others literally): refuse them all here, naming the part, not its text.
  const username = decoded(parsed.username, 'the user name', source);
  const password = decoded(parsed.password, 'the password', source);
  decoded(parsed.hostname, 'the host', source);
  const database = decoded(parsed.pathname.slice(1), 'the database name', source);
  // pg lets query parameters override the URL's parts.
  const user = nonEmpty(parsed.searchParams.get('user') ?? undefined) ?? nonEmpty(username) ?? nonEmpty(env.PGUSER) ?? safeUserName();
  const host = nonEmpty(parsed.searchParams.get('host') ?? undefined) ?? nonEmpty(parsed.hostname) ?? 'localhost';
  const portParameter = nonEmpty(parsed.searchParams.get('port') ?? undefined);
  const port =
    portParameter === undefined
      ? (nonEmpty(parsed.port) ?? checkedPort(nonEmpty(env.PGPORT) ?? '5432', 'PGPORT'))
      : checkedPort(portParameter, `the port parameter of ${source}`);
  const target = `${shownUser(user)}@${host}:${port}/${nonEmpty(database) ?? user}`;
  const secrets = [
    password,
    parsed.password,
    parsed.searchParams.get('password') ?? undefined,
    secretOfUser(user),
    secretOfUser(username),
    secretOfUser(parsed.username),
    nonEmpty(env.PGPASSWORD),
  ];
  return { config: { ...config, connectionString }, target, redact: redactor(secrets) };
}

/**
 * A port pg can use. pg hands anything else to the socket, which throws where pg does not expect
 * it: the connect then never settles and the process ends with exit code 13 and no message.
 */
function checkedPort(port: string, what: string): string {
  const number = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(number >= 1 && number <= 65_535)) throw new UsageError(`${what} is not a port number (1 to 65535): ${JSON.stringify(port)}`);
  return port;
}

/** A URL part decoded as pg will, or a usage error that names the part without showing it. */
function decoded(part: string, what: string, source: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new UsageError(`${source} has a malformed %-escape in ${what} (write %XX with two hex digits, %25 for a % sign)`);
  }
}

/**
 * A user name as printed: what follows a colon (literal or %3A) is most likely a password whose
 * separator was encoded by mistake, so it is shown as `***`.
 */
function shownUser(user: string): string {
  const secret = secretOfUser(user);
  return secret === undefined ? user : `${user.slice(0, user.length - secret.length)}${HIDDEN}`;
}

/** What follows the first colon of a user name (decoded or %3A), if anything. */
function secretOfUser(user: string): string | undefined {
  const match = /:|%3a/i.exec(user);
  return match === null ? undefined : nonEmpty(user.slice(match.index + match[0].length));
}

function redactor(candidates: readonly (string | undefined)[]): (text: string) => string {
  // Longest first, so a secret that contains another is hidden whole.
  const secrets = [...new Set(candidates.filter((secret): secret is string => secret !== undefined && secret !== ''))].sort(
    (a, b) => b.length - a.length,
  );
  return (text) => secrets.reduce((result, secret) => result.split(secret).join(HIDDEN), text);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

/** A text as echoed in a message: whatever sits between `//` and the last `@` may hold a password. */
export function withoutCredentials(text: string): string {
  return text.replace(/\/\/.*@/s, '//***@');
}

/** The hint printed under a connection failure. */
export const CONNECTION_HINT = 'hint: set --url, DATABASE_URL or the PG* variables (pgnotifier --help)';

/** The innermost message of an error chain: pg's own words rather than our wrapping. */
export function rootMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  return messageOf(current);
}
