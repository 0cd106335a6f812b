import pg from 'pg';

import type { Notifier } from '../../src/index.js';

/** The test run's PostgreSQL (see global-setup). */
export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') throw new Error('DATABASE_URL is not set: the global setup did not run');
  return url;
}

/** A plain pg client, connected, for sending NOTIFYs and inspecting the server. */
export async function connectClient(url = databaseUrl()): Promise<pg.Client> {
  const client = new pg.Client(url);
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Sends one notification with a raw payload. */
export async function pgNotify(client: pg.Client, channel: string, payload: string): Promise<void> {
  await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Channel names unique to this test process, so parallel test files never hear each other. */
export function uniqueChannel(name: string): string {
  return `${name}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Closes notifiers after each test. */
export function closer(): { track<T extends Notifier>(notifier: T): T; closeAll(): Promise<void> } {
  const open: Notifier[] = [];
  return {
    track(notifier) {
      open.push(notifier);
      return notifier;
    },
    async closeAll() {
      await Promise.all(open.splice(0).map((notifier) => notifier.close()));
    },
  };
}

/**
 * The usual hooks of a test file: a connected pg client for sending and inspecting (`db.client`),
 * and notifiers made with `db.track(...)` closed after each test.
 */
export function useTestDatabase(): { readonly client: pg.Client; track<T extends Notifier>(notifier: T): T } {
  const notifiers = closer();
  let client: pg.Client | undefined;
  beforeAll(async () => {
    client = await connectClient();
  });
  afterAll(async () => {
    await client?.end();
  });
  afterEach(() => notifiers.closeAll());
  return {
    get client() {
      if (client === undefined) throw new Error('the database client is not connected yet');
      return client;
    },
    track: (notifier) => notifiers.track(notifier),
  };
}
