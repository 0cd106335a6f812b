/** A running embedded PostgreSQL (see embedded-postgres.mjs). */
export interface EmbeddedServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export function freePort(): Promise<number>;
export function startPostgres(): Promise<EmbeddedServer>;
