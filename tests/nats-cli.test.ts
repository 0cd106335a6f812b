import type { NatsConnection } from '@nats-io/transport-node';

import { jetstreamManager } from '@nats-io/jetstream';
import { firstValueFrom } from 'rxjs';

import { Notifier, PgDurableSource } from '../src/index.js';
import { NatsDurable, NatsSource } from '../src/nats/index.js';
import { envWithout, startChild } from './support/child.js';
import { databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';
import { NATS_URL, natsOrSkip } from './support/nats.js';

const CLI = 'src/cli/main.ts';
const db = useTestDatabase();
let nc: NatsConnection | undefined;
beforeAll(async () => {
  nc = await natsOrSkip('nats-cli.test.ts');
});
afterAll(async () => {
  await nc?.close();
});

describe('pgnotifier relay', () => {
  test('relays its channels to NatsSource consumers and exits 0 on SIGTERM', async () => {
    if (nc === undefined) return;
    const prefix = uniqueChannel('cli').replace(/_/g, '-');
    const channel = uniqueChannel('cli relay');
    const child = startChild(CLI, ['relay', '--nats', NATS_URL, '--prefix', prefix, channel], envWithout({ DATABASE_URL: databaseUrl() }));
    await child.waitForOutput('stderr', /leading: /);
    // It led at its first try: it never stood by, so it does not say it did.
    expect(child.stderr()).not.toMatch(/standing by/);
    const notifier = db.track(new Notifier(new NatsSource({ nats: nc, subjectPrefix: prefix })));
    const seen: unknown[] = [];
    notifier.channel$(channel).subscribe((n) => seen.push(n.payload));
    await notifier.start();
    await pgNotify(db.client, channel, '{"via":"cli"}');
    await waitFor('the relayed notification', () => seen.length === 1);
    expect(seen).toEqual([{ via: 'cli' }]);
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  test('--durable with --schema: the outbox of the same database, carried to JetStream, with no other option', async () => {
    if (nc === undefined) return;
    const prefix = uniqueChannel('clid').replace(/_/g, '-');
    const schema = uniqueChannel('cli_outbox');
    const channel = uniqueChannel('cli durable');
    const outbox = new PgDurableSource(databaseUrl(), { schema });
    const child = startChild(
      CLI,
      ['relay', '--nats', NATS_URL, '--prefix', prefix, '--stream', prefix.toUpperCase(), '--durable', channel, '--schema', schema],
      envWithout({ DATABASE_URL: databaseUrl() }),
    );
    try {
      await child.waitForOutput('stderr', /leading: /);
      // The relay installed the outbox: publishing needs nothing else.
      const id = await outbox.publish(channel, '{"via":"cli outbox"}');
      const durable = new NatsDurable({ nats: () => Promise.resolve(nc!), subjectPrefix: prefix, stream: prefix.toUpperCase() });
      const message = await firstValueFrom(durable.read(channel, 'earliest'));
      expect(message).toMatchObject({ id, channel, payload: '{"via":"cli outbox"}' });
      child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await outbox.close();
      await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await (await jetstreamManager(nc)).streams.delete(prefix.toUpperCase()).catch(() => undefined);
    }
  });

  test('an unreachable NATS server is one line and exit code 1; no channel is a usage error', async () => {
    const unreachable = startChild(CLI, ['relay', '--nats', 'nats://127.0.0.1:1', 'x'], envWithout({ DATABASE_URL: databaseUrl() }));
    expect(await unreachable.exited).toBe(1);
    expect(unreachable.stderr()).toBe('pgnotifier: Cannot reach NATS at nats://127.0.0.1:1: connection refused\n');
    const usage = startChild(CLI, ['relay', '--nats', NATS_URL], envWithout({ DATABASE_URL: databaseUrl() }));
    expect(await usage.exited).toBe(2);
    expect(usage.stderr()).toMatch(/at least one channel/);
  });
});
