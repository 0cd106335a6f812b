import { readFileSync } from 'node:fs';

import { InvalidChannelError } from '../errors/invalid-channel-error.js';
import { PayloadTooLargeError } from '../errors/payload-too-large-error.js';
import { messageOf } from '../errors/message-of.js';
import { parseCommand } from './args.js';
import { withoutCredentials } from './connection.js';
import type { CliIo } from './io.js';
import { listen } from './listen.js';
import { notify, ServerError } from './notify.js';
import { SHORT_USAGE, USAGE, UsageError } from './usage.js';

/**
 * Runs one command line and returns the exit code. Never throws: every failure is one line on
 * stderr (with a hint for a usage error), never a stack trace.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    // `pgnotifier relay --help` as `pgnotifier --help`: the help covers every command.
    if ((argv[0] === 'relay' || argv[0] === 'install') && argv.some((arg) => arg === '--help' || arg === '-h')) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    // Loaded on demand: only the relay needs the NATS client, an optional dependency.
    if (argv[0] === 'relay') return await (await import('./relay.js')).relayCommand(argv.slice(1), io);
    if (argv[0] === 'install') return await (await import('./install.js')).installCommand(argv.slice(1), io);
    const command = parseCommand(argv);
    switch (command.kind) {
      case 'help':
        io.stdout.write(`${USAGE}\n`);
        return 0;
      case 'version':
        io.stdout.write(`${version()}\n`);
        return 0;
      case 'listen':
        return await listen(command, io);
      case 'notify':
        return await notify(command, io);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof InvalidChannelError || error instanceof PayloadTooLargeError) {
      io.stderr.write(
        `pgnotifier: ${error.message}\nusage: ${error instanceof UsageError ? error.usage : SHORT_USAGE} (pgnotifier --help)\n`,
      );
      return 2;
    }
    if (error instanceof ServerError) {
      io.stderr.write(`pgnotifier: ${error.message}\n`);
      return 1;
    }
    // Not ours, so no telling what it holds: at least never a URL's credentials.
    io.stderr.write(`pgnotifier: unexpected failure: ${withoutCredentials(messageOf(error))}\n`);
    return 1;
  }
}

/** Our package.json's version: two folders up from src/cli, three from dist/esm/cli. */
function version(): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'pgnotifier' && manifest.version !== undefined) return manifest.version;
    } catch {
      // not there: try the next one
    }
  }
  return 'unknown';
}
