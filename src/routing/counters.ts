/** Running totals, as `status().counters` reports them. */
export interface Counters {
  /** Notifications received from the server, on any channel. */
  received: number;
  /** Deliveries made: one per callback called and per `channel$` observer reached. */
  delivered: number;
  /** Notifications that arrived for a channel no longer registered (e.g. removed with autorun: false). */
  unrouted: number;
  /** Payloads whose parser threw. */
  parseErrors: number;
  /** Callbacks that threw or whose promise rejected. */
  callbackErrors: number;
  /** Connections lost or refused, heartbeats unanswered, LISTENs refused. */
  connectionErrors: number;
}

export function newCounters(): Counters {
  return { received: 0, delivered: 0, unrouted: 0, parseErrors: 0, callbackErrors: 0, connectionErrors: 0 };
}
