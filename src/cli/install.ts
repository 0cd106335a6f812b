import pg from 'pg';

import { DEFAULT_DURABLE_SCHEMA, durableSchemaSql, validateSchemaName } from '../durable/durable-schema-sql.js';
import { CONNECTION_HINT, resolveConnection, rootMessage } from './connection.js';
import type { CliIo } from './io.js';
import { UsageError } from './usage.js';

/** The usage line printed after a usage error of `pgnotifier install`. */
const INSTALL_USAGE = 'pgnotifier install [--schema <schema>] [--url <url>]';

/** What `pgnotifier install` was asked to do. */
export interface InstallCommand {
  readonly url: string | undefined;
  readonly schema: string;
}

/**
 * Parses the arguments after `install`: `[--url <url>] [--schema <schema>]`.
 *
 * @throws {@link UsageError} for anything else.
 */
export function parseInstallCommand(argv: readonly string[]): InstallCommand {
  let url: string | undefined;
  let schema: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = String(argv[i]);
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg];
    if (flag !== '--url' && flag !== '--schema') throw new UsageError(`install: unexpected argument ${JSON.stringify(arg)}`, INSTALL_USAGE);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`install: ${flag} needs a value`, INSTALL_USAGE);
    if (flag === '--url') url = value;
    else schema = value;
  }
  try {
    return { url, schema: validateSchemaName(schema ?? DEFAULT_DURABLE_SCHEMA) };
  } catch (error) {
    throw new UsageError(`install: ${rootMessage(error)}`, INSTALL_USAGE);
  }
}

/**
 * `pgnotifier install`: creates the durable channels' schema (tables and functions) where it is
 * missing, on a connection of its own. Idempotent and safe to run from many processes at once.
 */
export async function installCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const command = parseInstallCommand(argv);
  const { config, target, redact } = resolveConnection(command.url, io.env);
  const client = new pg.Client(config);
  // A connection that dies after connect would otherwise be an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    try {
      await client.connect();
    } catch (error) {
      io.stderr.write(`pgnotifier: cannot connect to ${target}: ${redact(rootMessage(error))}\n${CONNECTION_HINT}\n`);
      return 1;
    }
    try {
      await client.query(durableSchemaSql(command.schema));
    } catch (error) {
      io.stderr.write(`pgnotifier: installing schema ${JSON.stringify(command.schema)} failed: ${redact(rootMessage(error))}\n`);
      return 1;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  io.stderr.write(`pgnotifier: durable schema ${JSON.stringify(command.schema)} is installed (${target})\n`);
  return 0;
}
