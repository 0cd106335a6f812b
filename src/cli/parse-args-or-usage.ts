import { parseArgs, type ParseArgsConfig } from 'node:util';

import { UsageError } from './usage.js';

/** The options a command knows (node:util does not export this type by name). */
type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** How the CLI reads its arguments: options it knows, and positionals. */
interface StrictConfig<Options extends ParseArgsOptionsConfig> {
  args: string[];
  options: Options;
  allowPositionals: true;
  strict: true;
}

/**
 * Node's `parseArgs` as every `pgnotifier` command uses it: strict, with positionals; what it
 * refuses (an unknown option, an option without its value) becomes a {@link UsageError} in its
 * own words, which explain unknown options well (its error code is dropped).
 *
 * @throws {@link UsageError} for arguments `parseArgs` refuses.
 */
export function parseArgsOrUsage<Options extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: Options,
): ReturnType<typeof parseArgs<StrictConfig<Options>>> {
  try {
    return parseArgs<StrictConfig<Options>>({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
