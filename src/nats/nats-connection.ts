import { connect, type NatsConnection } from '@nats-io/transport-node';

import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/** Where to find NATS: a connection you made (and will close), or the servers to connect to. */
export type NatsOption =
  | NatsConnection
  | {
      /** One NATS server URL or several (`nats://host:4222`). */
      readonly servers: string | readonly string[];
    };

/** Tells a ready `NatsConnection` from `{ servers }`. */
export function isNatsConnection(value: unknown): value is NatsConnection {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as NatsConnection).publish === 'function' &&
    typeof (value as NatsConnection).subscribe === 'function'
  );
}

/**
 * The servers of `{ servers }`, checked.
 *
 * @throws `InvalidArgumentError` when there is none.
 */
export function serverList(option: unknown): string[] {
  // JavaScript callers may pass anything.
  const servers = typeof option === 'object' && option !== null ? (option as { servers?: unknown }).servers : undefined;
  const list = typeof servers === 'string' ? [servers] : Array.isArray(servers) ? (servers as unknown[]) : [];
  if (list.length === 0 || !list.every((server) => typeof server === 'string' && server !== '')) {
    throw new InvalidArgumentError(`NATS servers must be a URL or a list of URLs (e.g. 'nats://127.0.0.1:4222'), got ${String(servers)}`);
  }
  return list as string[];
}

/**
 * Connects once to NATS, with reconnects after that left to the client (forever, every 250 ms to
 * 2 s): a lost connection shows as `disconnect` / `reconnect` statuses, never as a closed one.
 */
export function connectNats(servers: readonly string[], name: string): Promise<NatsConnection> {
  return connect({
    servers: [...servers],
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    timeout: 5_000,
    // A half-open connection is found within pingInterval × maxPingOut.
    pingInterval: 5_000,
    maxPingOut: 2,
  });
}

/**
 * Resolves once Node has reported the outcome of every write already made on NATS sockets, while
 * the client still listens for it. Call it between writing to a connection (publish, subscribe,
 * unsubscribe, flush) and closing it.
 *
 * Why: when the server goes away, its FIN ends the client's socket, and the client learns that
 * the connection is lost only later (on the socket's 'close'). A write in between fails with
 * "write after end", which Node reports to the write's callback (the client ignores it) and as an
 * 'error' event a tick later (`process.nextTick`). Closing the connection within the same turn
 * makes the client remove every listener of the socket first, and an 'error' event without a
 * listener is thrown: an uncaught exception that ends the process. `setImmediate` runs after all
 * ticks and promise callbacks of the current turn, so the 'error' event has found the client's
 * listener by then.
 */
export function settleWrites(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Closes a connection this library made, once its writes are settled (see {@link settleWrites}); never rejects. */
export async function closeNats(nc: NatsConnection): Promise<void> {
  await settleWrites();
  await nc.close().catch(() => undefined);
}
