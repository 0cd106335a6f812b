import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './tcp-proxy.js';

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A private PostgreSQL in hot standby: it accepts connections and read-only queries, refuses LISTEN. */
export interface HotStandby {
  readonly url: string;
  destroy(): Promise<void>;
}

/**
 * Starts a fresh cluster as a hot standby of nothing: initdb, then `standby.signal`. With no
 * primary to follow it stays in recovery for good, which is all a standby is to a client
 * (pg_is_in_recovery() is true, in_hot_standby is on, LISTEN fails with SQLSTATE 25006).
 * As root the server runs as the `postgres` user, like the machine's own.
 */
export async function startHotStandby(): Promise<HotStandby> {
  const dir = await mkdtemp(join(tmpdir(), 'pgnotifier-standby-'));
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const as = (bin: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]) : run(join(BIN, bin), args);
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  await writeFile(join(data, 'standby.signal'), '');
  if (asRoot) await run('chown', ['postgres', join(data, 'standby.signal')]);
  const options = `-p ${String(port)} -k ${dir} -c listen_addresses=127.0.0.1 -c hot_standby=on`;
  await as('pg_ctl', ['-D', data, '-o', options, '-w', '-l', join(dir, 'log'), 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${String(port)}/postgres`,
    destroy: async () => {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
