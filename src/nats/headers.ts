import type { MsgHdrs } from '@nats-io/transport-node';

/** A header's value; `undefined` when absent (NATS gives `''`). */
export function headerOf(msg: { readonly headers?: MsgHdrs | undefined }, name: string): string | undefined {
  const value = msg.headers?.get(name);
  return value === undefined || value === '' ? undefined : value;
}

/** NATS header names the relay sets on every message it publishes. */
export const HEADER = {
  /** The PostgreSQL channel name, percent-encoded (`encodeURIComponent`): names may hold line breaks. */
  channel: 'Pgnotifier-Channel',
  /** The process id of the backend that sent the notification. */
  pid: 'Pgnotifier-Pid',
  /** Durable messages: the outbox message id. */
  id: 'Pgnotifier-Id',
} as const;

/** What the leading relay publishes on `<prefix>.relay`: at takeover, then every few seconds. */
export interface RelayAnnouncement {
  /** The relay's id (`host:pid:random` unless given). */
  readonly relay: string;
  /** When it became leader (ISO 8601). */
  readonly since: string;
  /** True for the first announcement of a term: notifications may have been lost before it. */
  readonly takeover: boolean;
}

/** How often the leader announces itself. */
export const ANNOUNCE_INTERVAL_MS = 2_000;
