import { merge } from 'rxjs';

import { validateChannel } from '../channel-name.js';
import { ConnectionError } from '../errors/connection-error.js';
import { Notifier } from '../notifier.js';
import { CONNECTION_HINT, resolveConnection, rootMessage } from './connection.js';
import { jsonLine, prettyLine } from './format.js';
import type { CliIo } from './io.js';
import { runUntilSignal } from './run-until-signal.js';

/** What `pgnotifier listen` was asked to do. */
export interface ListenCommand {
  readonly channels: readonly string[];
  readonly pretty: boolean;
  readonly url: string | undefined;
}

/**
 * Prints every notification on the channels until SIGINT or SIGTERM (exit code 0). A server that
 * cannot be reached at the start ends it with exit code 1; a connection lost later is replaced,
 * forever, as the library does, and said on stderr.
 */
export function listen(command: ListenCommand, io: CliIo): Promise<number> {
  const { config, target, redact } = resolveConnection(command.url, io.env);
  const channels = command.channels.map((channel) => validateChannel(channel));
  // The raw text: `listen` prints what was sent, and JSON.parse would round big numbers.
  const notifier = new Notifier(config, { parse: 'raw' });
  const names = channels.map((channel) => JSON.stringify(channel)).join(', ');
  // The listening backend, for pg_stat_activity and pg_terminate_backend.
  const backend = (before: string, after = ''): string => {
    const pid = notifier.status().server?.pid;
    return pid === undefined ? '' : `${before}backend pid ${String(pid)}${after}`;
  };

  // A reader that goes away (`pgnotifier listen ch | head -1`) is a normal way to stop.
  const onOutputError = (error: NodeJS.ErrnoException): void => {
    if (error.code !== 'EPIPE') io.stderr.write(`pgnotifier: cannot write output: ${error.message}\n`);
    run.end(error.code === 'EPIPE' ? 0 : 1);
  };
  const run = runUntilSignal(
    io,
    () => notifier.close(),
    redact,
    () => io.stdout.off('error', onOutputError),
  );
  const { subscriptions } = run;
  io.stdout.on('error', onOutputError);
  let everConnected = false;

  subscriptions.add(
    merge(...channels.map((channel) => notifier.channel$<string>(channel))).subscribe((notification) => {
      const now = new Date();
      io.stdout.write(command.pretty ? prettyLine(notification, now) : jsonLine(notification, now));
    }),
  );
  // One line per lost connection, naming the server's reason; then one per retry that failed
  // too, never for a reconnect that succeeded at once.
  let lostAt: 'connected' | 'lost' | 'retrying' = 'connected';
  subscriptions.add(
    notifier.state$.subscribe((state) => {
      if (run.ended) return;
      // At the start a failure is most likely a wrong address or credentials: say so and stop
      // rather than retry forever. Later, a lost connection is replaced like the library does.
      if (state.status === 'connecting' && state.error !== undefined && !everConnected) {
        io.stderr.write(`pgnotifier: cannot connect to ${target}: ${redact(reasonOf(state.error))}\n${CONNECTION_HINT}\n`);
        run.end(1);
        return;
      }
      if (state.status === 'connected') {
        if (!everConnected) io.stderr.write(`pgnotifier: connected to ${target}\n`);
        everConnected = true;
        lostAt = 'connected';
        return;
      }
      if (state.status === 'connecting' && state.error === undefined) {
        if (!everConnected) io.stderr.write(`pgnotifier: connecting to ${target}\n`);
        return;
      }
      if (state.status !== 'reconnecting' && state.status !== 'connecting') return;
      const reason = state.error === undefined ? 'no reason given' : redact(reasonOf(state.error));
      const attempt = String(state.attempt ?? 1);
      if (lostAt === 'connected') {
        lostAt = 'lost';
        io.stderr.write(`pgnotifier: connection lost: ${reason}; retrying (attempt ${attempt})\n`);
      } else {
        lostAt = 'retrying';
        io.stderr.write(`pgnotifier: reconnecting failed: ${reason}; retrying (attempt ${attempt})\n`);
      }
    }),
  );
  // Connection errors are already in the state lines above; anything else is worth a line too
  // (a QueueUsageWarning says what holds the queue back; a refused LISTEN names the channel).
  subscriptions.add(
    notifier.errors$.subscribe((error) => {
      if (!(error instanceof ConnectionError)) io.stderr.write(`pgnotifier: ${redact(error.message)}\n`);
    }),
  );
  subscriptions.add(
    notifier.resync$.subscribe(() => {
      io.stderr.write(`pgnotifier: listening again${backend(' (', ')')} on ${names}; notifications sent while disconnected are lost\n`);
    }),
  );

  // start() rejects (NotifierClosedError) when we close before the first connect succeeded:
  // the reason has been printed already.
  notifier.start().then(
    () => {
      if (!run.ended) io.stderr.write(`pgnotifier: listening on ${names} (${target}${backend(', ')})\n`);
    },
    () => undefined,
  );
  return run.exitCode;
}

/**
 * Why a connection failed or was lost, with the SQLSTATE (or socket error code) where there is
 * one: `terminating connection due to administrator command [57P01]`. A standby or a transaction
 * pooler gets the library's own message, which says what to do instead.
 */
export function reasonOf(error: Error): string {
  const advice = error.name === 'StandbyError' || error.name === 'TransactionPoolerError';
  const message = advice ? error.message : rootMessage(error);
  const code = codeOf(error);
  // `connect ECONNREFUSED 127.0.0.1:1` names its code already.
  return code === undefined || code === 'POOLER' || message.includes(code) ? message : `${message} [${code}]`;
}

/** The first string `code` along the cause chain: ours (a ConnectionError's), then pg's or the socket's. */
function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 10; current = current.cause, depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && code !== '') return code;
  }
  return undefined;
}
