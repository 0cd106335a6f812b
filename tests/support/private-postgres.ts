import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import type pg from 'pg';

import type { EmbeddedServer } from '../../scripts/embedded-postgres.mjs';
import { connectClient } from './db.js';

/** A PostgreSQL server of our own, in a child process; `stop()` then `start()` is an outage. */
export type PrivatePostgres = EmbeddedServer;

/**
 * Starts a private PostgreSQL (embedded-postgres, in a forked helper). Tests that stop or break
 * a server use one of these, never the machine's shared service.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const child = fork(join(__dirname, '..', '..', 'scripts', 'embedded-postgres.mjs'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    child.once('message', (message: { ready?: boolean; url: string; port: number }) => {
      resolve(message);
    });
    child.once('exit', (code) => {
      reject(new Error(`the PostgreSQL helper exited with ${String(code)}`));
    });
  });
  let next = 0;
  const command = (cmd: string) => send(child, ++next, cmd);
  return {
    ...ready,
    stop: () => command('stop'),
    start: () => command('start'),
    destroy: async () => {
      if (child.exitCode === null) await command('destroy');
    },
  };
}

function send(child: ChildProcess, id: number, cmd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { id?: number; ok?: boolean; error?: string }) => {
      if (message.id !== id) return;
      child.off('message', onMessage);
      if (message.ok === true) resolve();
      else reject(new Error(message.error ?? `${cmd} failed`));
    };
    child.on('message', onMessage);
    child.send({ id, cmd });
  });
}

/**
 * The usual hooks of a test file that breaks a server: a private PostgreSQL for the whole file
 * (`priv.server`) and a connected admin client on it (`priv.admin`; `reconnectAdmin()` after the
 * server was restarted), both released after the last test.
 */
export function usePrivatePostgres(): { readonly server: PrivatePostgres; readonly admin: pg.Client; reconnectAdmin(): Promise<void> } {
  let server: PrivatePostgres | undefined;
  let admin: pg.Client | undefined;
  beforeAll(async () => {
    server = await startPrivatePostgres();
    admin = await connectClient(server.url);
  });
  afterAll(async () => {
    // Either may be missing when the private server failed to start; that failure is the report.
    await admin?.end().catch(() => undefined);
    await server?.destroy();
  });
  const started = (): PrivatePostgres => {
    if (server === undefined) throw new Error('the private PostgreSQL is not started yet');
    return server;
  };
  return {
    get server() {
      return started();
    },
    get admin() {
      if (admin === undefined) throw new Error('the admin client is not connected yet');
      return admin;
    },
    async reconnectAdmin() {
      await admin?.end().catch(() => undefined);
      admin = await connectClient(started().url);
    },
  };
}
