import { userInfo } from 'node:os';

import type { ClientConfig } from 'pg';

import { messageOf } from '../errors/message-of.js';

import { UsageError } from './usage.js';

/** How long a connect may take before the CLI calls the server unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Where the CLI connects, and how to name that place in messages (never with the password). */
export interface CliConnection {
  /** Passed to pg: `connectionString` when one was given; pg fills the rest from `PG*`. */
  readonly config: ClientConfig;
  /** `user@host:port/database`, for messages. */
  readonly target: string;
}

/**
 * `--url`, else `DATABASE_URL`, else pg's own `PG*` variables.
 *
 * @throws {@link UsageError} when the URL given is not a URL.
 */
export function resolveConnection(url: string | undefined, env: NodeJS.ProcessEnv): CliConnection {
  const connectionString = url ?? nonEmpty(env.DATABASE_URL);
  if (connectionString === undefined) {
    const user = nonEmpty(env.PGUSER) ?? safeUserName();
    const target = `${user}@${nonEmpty(env.PGHOST) ?? 'localhost'}:${nonEmpty(env.PGPORT) ?? '5432'}/${nonEmpty(env.PGDATABASE) ?? user}`;
    return { config: { connectionTimeoutMillis: CONNECT_TIMEOUT_MS }, target };
  }
  let parsed: URL;
  try {
    parsed = new URL(connectionString);
  } catch {
    throw new UsageError(`${url === undefined ? 'DATABASE_URL' : '--url'} is not a URL (expected postgres://user@host:port/database)`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UsageError(`expected a postgres:// URL, got ${parsed.protocol}//…`);
  }
  const user = nonEmpty(decodeURIComponent(parsed.username)) ?? nonEmpty(env.PGUSER) ?? safeUserName();
  const target = `${user}@${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname.length > 1 ? parsed.pathname : `/${user}`}`;
  return { config: { connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }, target };
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

/** The hint printed under a connection failure. */
export const CONNECTION_HINT = 'hint: set --url, DATABASE_URL or the PG* variables (pgnotifier --help)';

/** The innermost message of an error chain: pg's own words rather than our wrapping. */
export function rootMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  return messageOf(current);
}
