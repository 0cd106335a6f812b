import type { ClientConfig } from 'pg';
import pg from 'pg';

/** How fast a lost lock connection is noticed, on both ends. */
export interface LockTiming {
  /** How often the leader checks its lock connection, in milliseconds. @defaultValue 1000 */
  readonly checkIntervalMs?: number;
  /** How long a check may take before the leader steps down, in milliseconds. @defaultValue 2000 */
  readonly checkTimeoutMs?: number;
}

// The server's side of a lost leader: keepalives probe an idle connection after 2 s, every 1 s,
// 3 times; tcp_user_timeout drops one whose sent data stays unacknowledged for 5 s. Either way
// the backend ends within seconds and PostgreSQL releases its session locks, so a follower can
// take over; the defaults (two hours of keepalive idle on Linux) would hold the lock for hours.
const SERVER_TIMEOUTS = '-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3 -c tcp_user_timeout=5000';

/** A connection of its own for the leader lock, with short keepalives on both ends. */
export function lockClient(config: ClientConfig, timing: Required<LockTiming>): pg.Client {
  const options = [config.options, SERVER_TIMEOUTS].filter((part) => part !== undefined && part !== '').join(' ');
  const client = new pg.Client({
    ...config,
    options,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1_000,
    query_timeout: timing.checkTimeoutMs,
    connectionTimeoutMillis: config.connectionTimeoutMillis ?? 10_000,
  });
  return client;
}

/** The advisory lock key of a subject prefix: a fixed class id, and the prefix hashed by PostgreSQL. */
export const LOCK_QUERY = "SELECT pg_try_advisory_lock(1885826676, hashtext('pgnotifier relay ' || $1)) AS locked";
