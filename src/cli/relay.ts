import { validateChannel } from '../channel-name.js';
import { messageOf } from '../errors/message-of.js';
import { CONNECTION_HINT, resolveConnection, rootMessage } from './connection.js';
import type { relay as startRelay, Relay } from '../nats/relay.js';
import type { CliIo } from './io.js';
import { parseArgsOrUsage } from './parse-args-or-usage.js';
import { runUntilSignal } from './run-until-signal.js';
import { UsageError } from './usage.js';

/** What `pgnotifier relay` was asked to do. */
export interface RelayCommand {
  readonly channels: readonly string[];
  readonly durableChannels: readonly string[];
  readonly url: string | undefined;
  readonly nats: string;
  readonly subjectPrefix: string | undefined;
  readonly stream: string | undefined;
  /** The outbox schema of the durable channels. */
  readonly schema: string | undefined;
}

/**
 * Reads `pgnotifier relay [options] <channel...>` (the arguments after `relay`).
 *
 * @throws {@link UsageError} for an unknown option or no channel at all.
 */
export function parseRelayCommand(argv: readonly string[], env: NodeJS.ProcessEnv): RelayCommand {
  const { values, positionals } = parseArgsOrUsage(argv, {
    url: { type: 'string' },
    nats: { type: 'string' },
    durable: { type: 'string', multiple: true, default: [] },
    prefix: { type: 'string' },
    stream: { type: 'string' },
    schema: { type: 'string' },
  });
  if (positionals.length + values.durable.length === 0)
    throw new UsageError('relay needs at least one channel (plain, or --durable <channel>)');
  const nats = values.nats ?? (env.NATS_URL === undefined || env.NATS_URL === '' ? undefined : env.NATS_URL);
  if (nats === undefined) throw new UsageError('relay needs --nats <url> (or NATS_URL), e.g. --nats nats://127.0.0.1:4222');
  return {
    channels: positionals.map((channel) => validateChannel(channel)),
    durableChannels: values.durable.map((channel) => validateChannel(channel)),
    url: values.url,
    nats,
    subjectPrefix: values.prefix,
    stream: values.stream,
    schema: values.schema,
  };
}

/**
 * `pgnotifier relay`: runs a relay until SIGINT or SIGTERM (exit code 0). NATS or PostgreSQL
 * unreachable at the start is one line and exit code 1; later losses are ridden out as the
 * library does, and said on stderr.
 */
export async function relayCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const command = parseRelayCommand(argv, io.env);
  const { config, target, redact } = resolveConnection(command.url, io.env);
  let start: typeof startRelay;
  try {
    start = (await import('../nats/relay.js')).relay;
  } catch (error) {
    io.stderr.write(
      `pgnotifier: relay needs the NATS client: npm install @nats-io/transport-node @nats-io/jetstream (${rootMessage(error)})\n`,
    );
    return 1;
  }
  let handle: Relay;
  try {
    handle = await start({
      connection: config,
      nats: { servers: command.nats.split(',') },
      channels: command.channels,
      durableChannels: command.durableChannels,
      ...(command.subjectPrefix === undefined ? {} : { subjectPrefix: command.subjectPrefix }),
      ...(command.stream === undefined ? {} : { stream: command.stream }),
      ...(command.schema === undefined ? {} : { outbox: { schema: command.schema } }),
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidArgumentError') throw new UsageError(error.message);
    io.stderr.write(`pgnotifier: ${redact(messageOf(error))}\n`);
    return 1;
  }
  const relay = handle;
  const names = [...command.channels, ...command.durableChannels.map((channel) => `${channel} (durable)`)]
    .map((channel) => JSON.stringify(channel))
    .join(', ');

  const run = runUntilSignal(io, () => relay.close(), redact);
  let everConnected = false;
  run.subscriptions.add(
    relay.state$.subscribe((state) => {
      if (run.ended) return;
      switch (state.role) {
        case 'starting':
          if (state.error !== undefined && !everConnected) {
            io.stderr.write(`pgnotifier: cannot connect to ${target}: ${redact(rootMessage(state.error))}\n${CONNECTION_HINT}\n`);
            run.end(1);
          } else if (state.error !== undefined) {
            io.stderr.write(`pgnotifier: lost ${target} (${redact(rootMessage(state.error))}); reconnecting\n`);
          }
          break;
        case 'follower':
          everConnected = true;
          io.stderr.write(
            `pgnotifier: relay ${relay.id} standing by on ${target}${state.error === undefined ? '' : ` (stepped down: ${redact(rootMessage(state.error))})`}\n`,
          );
          break;
        case 'leader':
          everConnected = true;
          io.stderr.write(`pgnotifier: relay ${relay.id} leading: ${names} → ${command.nats}\n`);
          break;
        case 'closed':
          break;
      }
    }),
  );
  return run.exitCode;
}
