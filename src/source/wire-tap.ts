import type { ClientConfig } from 'pg';
import pg from 'pg';

/** The part of pg's (untyped) `Connection` the tap uses. */
interface PgConnection {
  query(text: string): void;
  on(event: string, listener: (message: never) => void): unknown;
}

/** A fatal ErrorResponse, or the socket's error: why the connection ended. */
export interface WireFailure {
  readonly message: string;
  /** SQLSTATE, or the socket's error code. */
  readonly code?: string;
}

/**
 * A pg `Connection` for pg-listen's client to talk through, watched and steered from outside.
 *
 * Why: pg-listen does not expose its pg `Client`, quotes channel names with pg-format's `ident()`
 * (which leaves reserved words of current PostgreSQL such as `fetch` or `window` unquoted) and
 * reports every lost connection as "Re-initializing … failed". The design binds the listening
 * connection to pg-listen, so rather than fork it we hand its client the connection: pg's
 * `Client` takes a ready-made one (`config.connection`), and pg-listen spreads our config into
 * its client. The tap then sees what pg keeps to itself (the backend's pid, parameter statuses
 * such as `in_hot_standby`, the server's last FATAL before it closes the socket with its SQLSTATE)
 * and owns the text of queries: {@link WireTap.route} lets any SQL of ours go through pg-listen's
 * `notify()` (the only query method it has that keeps no state), so every LISTEN and UNLISTEN we
 * send is built by us, always quoted with pg's `escapeIdentifier`.
 *
 * The connection is taken from a `pg.Client` that never connects, built from the same config, so
 * pg works out TLS, encoding and keepalive exactly as it would for pg-listen's own client.
 */
export class WireTap {
  /** Pass as `connection` in the client config. */
  readonly connection: unknown;
  /** The backend's process id, from BackendKeyData (a pooler's own number when there is one). */
  pid: number | undefined;
  /** The server's last FATAL/PANIC, or the socket's error, whichever came first. */
  failure: WireFailure | undefined;
  readonly #parameters = new Map<string, string>();
  readonly #routes = new Map<string, string>();
  #next = 0;

  constructor(config: ClientConfig) {
    const connection = (new pg.Client(config) as unknown as { connection: PgConnection }).connection;
    this.connection = connection;
    const send = connection.query.bind(connection);
    connection.query = (text: string): void => {
      const routed = this.#routes.get(text);
      if (routed !== undefined) this.#routes.delete(text);
      send(routed ?? text);
    };
    connection.on('backendKeyData', (message: { processID: number }) => {
      this.pid = message.processID;
    });
    connection.on('parameterStatus', (message: { parameterName: string; parameterValue: string }) => {
      this.#parameters.set(message.parameterName, message.parameterValue);
    });
    connection.on('errorMessage', (message: { severity?: string; code?: string; message: string }) => {
      // Errors of single statements are the queries' business; FATAL and PANIC end the session.
      if (message.severity === 'FATAL' || message.severity === 'PANIC') this.#fail(message);
    });
    connection.on('error', (error: { message: string; code?: string }) => {
      this.#fail(error);
    });
  }

  /** A parameter the server reported (ParameterStatus), e.g. `server_version`, `in_hot_standby`. */
  parameter(name: string): string | undefined {
    return this.#parameters.get(name);
  }

  /**
   * A channel name to pass to pg-listen's `notify(name)` (with no payload) so that `sql` is sent
   * instead of the `NOTIFY` it builds; the promise pg-listen returns is that query's result.
   */
  route(sql: string): string {
    const marker = `pgnotifier_route_${String(++this.#next)}`;
    // pg-format leaves such a lower-case name bare: this is exactly the text pg-listen sends.
    this.#routes.set(`NOTIFY ${marker}`, sql);
    return marker;
  }

  #fail(error: { message: string; code?: string }): void {
    this.failure ??= { message: error.message, ...(typeof error.code === 'string' ? { code: error.code } : {}) };
  }
}
