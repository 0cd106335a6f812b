/** A running embedded PostgreSQL (see embedded-postgres.mjs). */
export interface EmbeddedServer {
  /** Its loopback port. */
  readonly port: number;
  /** A connection string for its `postgres` database. */
  readonly url: string;
  /** Stops the server, keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

export function startPostgres(): Promise<EmbeddedServer>;
