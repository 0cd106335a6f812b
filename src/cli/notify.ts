import pg from 'pg';

import { validateUserChannel } from '../channel-name.js';
import { checkPayloadSize, pgNotifyQuery } from '../payload/serialize.js';
import { CONNECTION_HINT, resolveConnection, rootMessage } from './connection.js';
import { isJson } from './format.js';
import type { CliIo } from './io.js';

/** How long the NOTIFY may take once connected before the CLI gives up. */
const QUERY_TIMEOUT_MS = 10_000;

/** What `pgnotifier notify` was asked to do. */
export interface NotifyCommand {
  readonly channel: string;
  readonly payload: string;
  readonly url: string | undefined;
}

/** Thrown when the server cannot be reached or refuses: one line, exit code 1. */
export class ServerError extends Error {
  override readonly name = 'ServerError';
}

/**
 * Sends one notification on a connection of its own and closes it.
 *
 * @throws {@link InvalidChannelError} or {@link PayloadTooLargeError} before connecting;
 * {@link ServerError} when the server cannot be reached or refuses.
 */
export async function notify(command: NotifyCommand, io: CliIo): Promise<number> {
  const { config, target, redact } = resolveConnection(command.url, io.env);
  // The reserved wake-up channels too: a NOTIFY there would fake durable wake-ups.
  const channel = validateUserChannel(command.channel);
  // Sent as given: re-serialising parsed JSON would round big numbers and reorder nothing useful.
  const text = checkPayloadSize(channel, command.payload);

  // A query over a half-open connection would otherwise wait forever.
  const client = new pg.Client({ ...config, query_timeout: QUERY_TIMEOUT_MS });
  // A connection that dies after connect would otherwise be an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    try {
      await client.connect();
    } catch (error) {
      throw new ServerError(`cannot connect to ${target}: ${redact(rootMessage(error))}\n${CONNECTION_HINT}`);
    }
    try {
      await client.query(pgNotifyQuery(channel, text));
    } catch (error) {
      throw new ServerError(`the server refused the notification: ${redact(rootMessage(error))}`);
    }
  } finally {
    // Also after a failed connect: when pg itself gives up during authentication (no password for
    // SCRAM), the socket stays open and would keep the process alive until the server's
    // authentication_timeout (60 s by default).
    await client.end().catch(() => undefined);
  }
  io.stderr.write(`pgnotifier: sent ${Buffer.byteLength(text)} bytes of ${payloadKind(text)} on ${JSON.stringify(channel)} (${target})\n`);
  return 0;
}

/** Whether listeners using the default parser will get a JSON value or the text itself. */
export function payloadKind(text: string): 'JSON' | 'text' {
  return isJson(text) ? 'JSON' : 'text';
}
