import pg from 'pg';

import { startPostgres } from '../../scripts/embedded-postgres.mjs';

/**
 * One PostgreSQL for the test run: `DATABASE_URL` when it is set, otherwise an embedded server
 * started here, so `npm install && npm test` works on a machine without PostgreSQL. Workers
 * inherit the URL through the environment.
 */
export default async function globalSetup() {
  if (!process.env.DATABASE_URL) {
    const server = await startPostgres();
    globalThis.__pgnotifierEmbedded = server;
    process.env.DATABASE_URL = server.url;
    process.stdout.write(`\npgnotifier tests: embedded PostgreSQL on port ${server.port}\n`);
  } else {
    process.stdout.write(`\npgnotifier tests: PostgreSQL at ${process.env.DATABASE_URL.replace(/:[^:@/]*@/, ':***@')}\n`);
  }
  const client = new pg.Client(process.env.DATABASE_URL);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
