import { inspect } from 'node:util';

import type { Notification } from '../types.js';

/** What `listen` prints for one notification. */
export interface NotificationLine {
  readonly channel: string;
  readonly payload: unknown;
  readonly pid: number;
  /** When the CLI received it, as an ISO 8601 UTC timestamp. */
  readonly receivedAt: string;
}

/** One notification as one JSON line: the format to pipe into `jq` or another program. */
export function jsonLine(notification: Notification, receivedAt: Date): string {
  const line: NotificationLine = {
    channel: notification.channel,
    payload: notification.payload,
    pid: notification.pid,
    receivedAt: receivedAt.toISOString(),
  };
  return `${JSON.stringify(line)}\n`;
}

/** One notification for a person: local time, channel, sender, and the payload as Node shows values. */
export function prettyLine(notification: Notification, receivedAt: Date, colors: boolean): string {
  const time = receivedAt.toTimeString().slice(0, 8) + '.' + String(receivedAt.getMilliseconds()).padStart(3, '0');
  const payload = inspect(notification.payload, { colors, depth: null, breakLength: 100 });
  return `${time}  ${notification.channel}  pid ${notification.pid}  ${payload}\n`;
}
