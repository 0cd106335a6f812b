import { withoutCredentials } from './connection.js';
import { parseArgsOrUsage } from './parse-args-or-usage.js';
import { UsageError } from './usage.js';

/** A command line, understood. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'listen'; readonly channels: readonly string[]; readonly pretty: boolean; readonly url: string | undefined }
  | { readonly kind: 'notify'; readonly channel: string; readonly payload: string; readonly url: string | undefined };

/**
 * Reads `pgnotifier <command> ...` (the arguments after the program name).
 *
 * @throws {@link UsageError} for an unknown command or option, or missing or extra arguments.
 */
export function parseCommand(argv: readonly string[]): Command {
  const { values, positionals } = parseArgsOrUsage(argv, {
    url: { type: 'string' },
    pretty: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    version: { type: 'boolean', short: 'v', default: false },
  });
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const [command, ...rest] = positionals;
  switch (command) {
    case 'listen':
      if (rest.length === 0) throw new UsageError('listen needs at least one channel');
      if (rest.some(isUrl)) throw new UsageError('a channel looks like a connection URL; give the URL with --url');
      return { kind: 'listen', channels: rest, pretty: values.pretty, url: values.url };
    case 'notify': {
      const [channel, payload, ...extra] = rest;
      if (channel === undefined) throw new UsageError('notify needs a channel and a payload');
      if (isUrl(channel)) throw new UsageError('the channel looks like a connection URL; give the URL with --url');
      if (payload === undefined) throw new UsageError(`notify needs a payload after the channel ${JSON.stringify(channel)}`);
      if (extra.length > 0)
        throw new UsageError(`notify takes one payload; quote it if it has spaces (extra: ${extra.map(withoutCredentials).join(' ')})`);
      if (values.pretty) throw new UsageError('--pretty applies to listen only');
      return { kind: 'notify', channel, payload, url: values.url };
    }
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(withoutCredentials(command))}`);
  }
}

/** A connection URL given where a channel was expected (`pgnotifier listen postgres://…`). */
function isUrl(arg: string): boolean {
  return /^postgres(ql)?:\/\//i.test(arg);
}
