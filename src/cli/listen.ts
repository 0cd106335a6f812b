import { merge, Subscription } from 'rxjs';

import { validateChannel } from '../channel-name.js';
import { ConnectionError } from '../errors/connection-error.js';
import { messageOf } from '../errors/message-of.js';
import { Notifier } from '../notifier.js';
import type { ConnectionState } from '../types.js';
import { CONNECTION_HINT, resolveConnection, rootMessage } from './connection.js';
import { jsonLine, prettyLine } from './format.js';
import type { CliIo } from './io.js';

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

  return new Promise<number>((resolve) => {
    const subscriptions = new Subscription();
    let ended = false;
    let everConnected = false;
    const end = (code: number): void => {
      if (ended) return;
      ended = true;
      for (const signal of ['SIGINT', 'SIGTERM'] as const) io.process.off(signal, onSignal);
      io.stdout.off('error', onOutputError);
      // close() completes every stream; the subscriptions go after it, not before (which would
      // UNLISTEN each channel on the way out).
      notifier.close().then(
        () => {
          subscriptions.unsubscribe();
          resolve(code);
        },
        (error: unknown) => {
          subscriptions.unsubscribe();
          io.stderr.write(`pgnotifier: closing failed: ${redact(messageOf(error))}\n`);
          resolve(code === 0 ? 1 : code);
        },
      );
    };
    const onSignal = (): void => {
      io.stderr.write('pgnotifier: closing\n');
      end(0);
    };
    // A reader that goes away (`pgnotifier listen ch | head -1`) is a normal way to stop.
    const onOutputError = (error: NodeJS.ErrnoException): void => {
      if (error.code !== 'EPIPE') io.stderr.write(`pgnotifier: cannot write output: ${error.message}\n`);
      end(error.code === 'EPIPE' ? 0 : 1);
    };
    io.process.on('SIGINT', onSignal);
    io.process.on('SIGTERM', onSignal);
    io.stdout.on('error', onOutputError);

    subscriptions.add(
      merge(...channels.map((channel) => notifier.channel$<string>(channel))).subscribe((notification) => {
        const now = new Date();
        io.stdout.write(command.pretty ? prettyLine(notification, now) : jsonLine(notification, now));
      }),
    );
    subscriptions.add(
      notifier.state$.subscribe((state) => {
        if (ended) return;
        if (state.status === 'connected') everConnected = true;
        // At the start a failure is most likely a wrong address or credentials: say so and stop
        // rather than retry forever. Later, a lost connection is replaced like the library does.
        if (state.status === 'connecting' && state.error !== undefined && !everConnected) {
          io.stderr.write(`pgnotifier: cannot connect to ${target}: ${redact(rootMessage(state.error))}\n${CONNECTION_HINT}\n`);
          end(1);
          return;
        }
        const line = describeState(state, target, redact);
        if (line !== undefined) io.stderr.write(`pgnotifier: ${line}\n`);
      }),
    );
    // Connection errors are already in the state lines above; anything else is worth a line too.
    subscriptions.add(
      notifier.errors$.subscribe((error) => {
        if (!(error instanceof ConnectionError)) io.stderr.write(`pgnotifier: ${redact(error.message)}\n`);
      }),
    );
    subscriptions.add(
      notifier.resync$.subscribe(() => {
        io.stderr.write(`pgnotifier: listening again on ${names}; notifications sent while disconnected are lost\n`);
      }),
    );

    // start() rejects (NotifierClosedError) when we close before the first connect succeeded:
    // the reason has been printed already.
    notifier.start().then(
      () => {
        if (!ended) io.stderr.write(`pgnotifier: listening on ${names} (${target})\n`);
      },
      () => undefined,
    );
  });
}

function describeState(state: ConnectionState, target: string, redact: (text: string) => string): string | undefined {
  switch (state.status) {
    case 'connecting':
      return `connecting to ${target}`;
    case 'connected':
      return `connected to ${target}`;
    case 'reconnecting':
      return `connection lost (${state.error === undefined ? 'no reason given' : redact(rootMessage(state.error))}); reconnecting, attempt ${state.attempt ?? 1}`;
    default:
      return undefined;
  }
}
