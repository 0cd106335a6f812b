import type { ClientConfig } from 'pg';
import pg from 'pg';

import { describeValue } from '../durable/describe-value.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/** The largest value of a PostgreSQL integer setting, and the longest delay Node's timers honour. */
const INT4_MAX = 2_147_483_647;

/** Startup parameters pg sends as NUL-terminated strings. */
const STARTUP_STRINGS = ['user', 'database', 'application_name', 'fallback_application_name', 'options'] as const;

/** Time settings pg sends at startup as `String(parseInt(value, 10))`, when the value is truthy. */
const STARTUP_TIMEOUTS = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'] as const;

/** What pg resolved from the config, the connection string and the `PG*` environment variables. */
interface Resolved {
  readonly host: unknown;
  readonly port: unknown;
  readonly connectionParameters: Readonly<Record<(typeof STARTUP_STRINGS)[number] | (typeof STARTUP_TIMEOUTS)[number], unknown>> & {
    readonly query_timeout: unknown;
    readonly replication: unknown;
  };
}

/**
 * Refuses a PostgreSQL connection config that can never work. Each of these fails every attempt
 * the same way, so a retrying connection would fail forever (and a bad port made the socket throw
 * on every attempt); refusing it in the constructor says what is wrong once, where it was written.
 *
 * What it checks is what pg would use, wherever that came from (the config, the connection string
 * or the `PG*` environment variables): pg resolves all of them in its client constructor, so a
 * client that never connects tells us.
 *
 * - pg can build a client from it (a connection string that is not a URL, an unknown
 *   `sslnegotiation`, a host that is not a string, an `sslrootcert` file that cannot be read);
 * - the port is an integer from 1 to 65535 (the socket throws otherwise);
 * - no NUL character in the host (a socket directory is then not found; a host name is cut at
 *   it) or in a startup string (user, database, application name, options: the server refuses
 *   the startup packet);
 * - `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout` are integers from 0
 *   to 2147483647 (the server refuses any other value at every connect);
 * - `query_timeout` is a number of milliseconds from 1 to 2147483647 (Node's timers fire anything
 *   else after 1 ms, so every query would time out);
 * - with `listens`, no `replication`: a replication connection cannot LISTEN.
 *
 * A config with its own `stream` gets no host or port check: the stream does what it likes with
 * them.
 *
 * @throws {@link InvalidArgumentError} naming the setting and the value pg would use.
 */
export function checkConnectionConfig(config: ClientConfig, { listens = false }: { readonly listens?: boolean } = {}): void {
  // Without the caller's stream: pg would call a stream factory here, and this client never connects.
  const { stream, ...rest } = config;
  let resolved: Resolved;
  try {
    resolved = new pg.Client(rest) as unknown as Resolved;
  } catch (cause) {
    // Not `instanceof Error`: pg's URL parser throws errors of another realm under some runners.
    const message = typeof cause === 'object' && cause !== null && 'message' in cause ? String(cause.message) : String(cause);
    throw new InvalidArgumentError(`pg cannot use this connection config: ${message}`, { cause });
  }
  const { host, port, connectionParameters: parameters } = resolved;
  if (stream === undefined) {
    if (!(typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65_536)) {
      const where = typeof host === 'string' && host.startsWith('/') ? ` (socket directory ${host})` : '';
      throw new InvalidArgumentError(
        `The port must be an integer from 1 to 65535, got ${String(port)}${where} (from the config, the connection string or PGPORT)`,
      );
    }
    if (typeof host === 'string' && host.includes('\0')) throw new InvalidArgumentError(`The host must not contain a NUL character`);
  }
  for (const name of STARTUP_STRINGS) {
    const value = parameters[name];
    if (typeof value === 'string' && value.includes('\0')) throw new InvalidArgumentError(`The ${name} must not contain a NUL character`);
  }
  for (const name of STARTUP_TIMEOUTS) {
    const value = parameters[name];
    // pg sends nothing for a falsy value (the server's setting stays).
    if (!value) continue;
    // What pg sends, parseInt(value, 10), for the values it can be given.
    const sent = typeof value === 'number' ? Math.trunc(value) : typeof value === 'string' ? parseInt(value, 10) : Number.NaN;
    if (!(Number.isInteger(sent) && sent >= 0 && sent <= INT4_MAX)) {
      throw new InvalidArgumentError(
        `${name} must be an integer number of milliseconds from 0 to ${String(INT4_MAX)}, got ${describeValue(value)}`,
      );
    }
  }
  const queryTimeout = parameters.query_timeout;
  if (queryTimeout) {
    const ms = Number(queryTimeout);
    if (!(Number.isFinite(ms) && ms >= 1 && ms <= INT4_MAX)) {
      throw new InvalidArgumentError(
        `query_timeout must be a number of milliseconds from 1 to ${String(INT4_MAX)}, got ${describeValue(queryTimeout)}`,
      );
    }
  }
  if (listens && parameters.replication) {
    throw new InvalidArgumentError(
      `A replication connection cannot LISTEN: leave replication unset, got ${describeValue(parameters.replication)}`,
    );
  }
}
