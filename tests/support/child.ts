import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { waitFor } from './db.js';

/** A TypeScript program of this repository, running in a child process under tsx. */
export interface Child {
  /** Everything it printed so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves when `stream` has printed something matching `pattern`; fails with both outputs after `timeoutMs`. */
  readonly waitForOutput: (stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number) => Promise<void>;
  /** Its exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  readonly kill: (signal: NodeJS.Signals) => void;
  /** Closes our end of its stdout, as a reader that goes away (`| head -1`) does. */
  readonly closeStdout: () => void;
}

const root = join(__dirname, '..', '..');

/** Starts `node --import tsx <script> ...args` from the repository root, killed after `killAfterMs` as a safety net. */
export function startChild(script: string, args: readonly string[], env: NodeJS.ProcessEnv, killAfterMs = 30_000): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, script), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve(code);
    });
  });
  return {
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    waitForOutput: async (stream, pattern, timeoutMs = 15_000) => {
      try {
        await waitFor(`${stream} to match ${pattern}`, () => pattern.test(output[stream]), timeoutMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`, {
          cause: error,
        });
      }
    },
    exited,
    kill: (signal) => child.kill(signal),
    closeStdout: () => {
      child.stdout.destroy();
    },
  };
}

const CONNECTION_VARIABLES = new Set(['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'PGHOSTADDR']);

/** The environment without any connection settings, plus `extra`. */
export function envWithout(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(([key]) => !CONNECTION_VARIABLES.has(key));
  return { ...Object.fromEntries(kept), ...extra };
}
