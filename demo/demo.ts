// pgnotifier, live: `npm run demo`. Uses DATABASE_URL when set, otherwise starts an embedded
// PostgreSQL (and removes it at the end). Ends by itself with exit code 0.
import pg from 'pg';
import { bufferCount, filter, firstValueFrom, map, merge, Subscription, take } from 'rxjs';

import { startPostgres } from '../scripts/embedded-postgres.mjs';
import { Notifier, type ConnectionState } from '../src/index.js';

const step = (title: string) => {
  console.log(`\n\x1b[1m▸ ${title}\x1b[0m`);
};
const say = (line: string) => {
  console.log(`  ${line}`);
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  let embedded: Awaited<ReturnType<typeof startPostgres>> | undefined;
  let url = process.env.DATABASE_URL;
  if (url === undefined || url === '') {
    step('No DATABASE_URL: starting an embedded PostgreSQL');
    embedded = await startPostgres();
    url = embedded.url;
    say(`listening on 127.0.0.1:${embedded.port}`);
  } else {
    step(`Using DATABASE_URL (${url.replace(/:[^:@/]*@/, ':***@')})`);
  }

  const app = `pgnotifier-demo-${process.pid}`;
  const notifier = new Notifier({ connectionString: url, application_name: app }, { reconnect: { initialDelayMs: 50, maxDelayMs: 1000 } });
  const sql = new pg.Client(url);
  await sql.connect();
  const send = async (channel: string, payload: unknown) => {
    await sql.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(payload)]);
  };
  const watching = new Subscription();
  const cleanUp = async (): Promise<void> => {
    watching.unsubscribe();
    await sql.end();
    await notifier.close();
    if (embedded !== undefined) {
      await embedded.destroy();
      say('embedded PostgreSQL stopped and removed');
    }
  };
  // Ctrl-C part-way still closes the notifier and removes the embedded server.
  process.once('SIGINT', () => {
    void cleanUp().finally(() => process.exit(130));
  });
  try {
    watching.add(
      notifier.state$.subscribe((state: ConnectionState) => {
        const attempt = state.attempt === undefined ? '' : ` (attempt ${state.attempt})`;
        const why = state.error === undefined ? '' : `: ${state.error.message}`;
        say(`\x1b[2m[state] ${state.status}${attempt}${why}\x1b[0m`);
      }),
    );
    watching.add(
      notifier.errors$.subscribe((error) => {
        say(`\x1b[33m[errors$] ${error.name}: ${error.message}\x1b[0m`);
      }),
    );

    step('Channels as hot Observables, composed with RxJS');
    const orders$ = notifier.channel$<{ id: number; total: number }>('orders');
    const refunds$ = notifier.channel$<{ id: number; total: number }>('refunds');
    const bigMoves = firstValueFrom(
      merge(orders$, refunds$).pipe(
        filter((n) => n.payload.total >= 100),
        map((n) => `${n.channel} #${n.payload.id} (${n.payload.total})`),
        bufferCount(2),
      ),
    );
    await notifier.start();
    say(`LISTENing: ${notifier.activeChannels().join(', ')}`);
    await send('orders', { id: 1, total: 40 });
    await send('orders', { id: 2, total: 120 });
    await send('refunds', { id: 3, total: 300 });
    say(`merged, filtered, buffered: ${(await bigMoves).join(' and ')}`);

    step('Subscribers by id, many-to-many');
    const log = (id: unknown, channel: string, payload: unknown) => {
      say(`callback ${JSON.stringify(id)} on ${channel}: ${JSON.stringify(payload)}`);
    };
    await notifier.subscribe('mailer', 'orders', log);
    await notifier.subscribe(['audit', 1], 'orders', log);
    await notifier.subscribe(['audit', 1], 'refunds', log);
    await send('orders', { id: 4, total: 10 });
    await pause(100);

    step('Mute and unmute: a subscriber, then a whole channel');
    await notifier.muteSubscriber('mailer');
    say(`muted subscribers: ${JSON.stringify(notifier.mutedSubscribers('orders'))}`);
    await send('orders', { id: 5, total: 11 });
    await pause(100);
    await notifier.muteChannels('refunds');
    say(`muted channels: ${JSON.stringify(notifier.mutedChannels())}; LISTENing: ${notifier.activeChannels().join(', ')}`);
    await send('refunds', { id: 6, total: 12 });
    await pause(100);
    say('(nothing above for #6: refunds is muted)');
    await notifier.unmuteChannels('refunds');
    await notifier.unmuteSubscriber('mailer');
    await send('refunds', { id: 7, total: 13 });
    await pause(100);

    step('A throwing subscriber is isolated: the others still get the notification');
    await notifier.subscribe('clumsy', 'orders', () => {
      throw new Error('I always throw');
    });
    await send('orders', { id: 8, total: 14 });
    await pause(100);
    say(`still running: ${notifier.isRunning()}`);
    await notifier.unsubscribe('clumsy');

    step('The connection is killed (pg_terminate_backend): reconnect, re-LISTEN, resync$');
    const resynced = firstValueFrom(notifier.resync$);
    const next = firstValueFrom(orders$.pipe(take(1)));
    await sql.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
    await resynced;
    say(`resync$ fired: re-read what may have been missed; LISTENing again: ${notifier.activeChannels().join(', ')}`);
    await send('orders', { id: 9, total: 15 });
    say(`channel$ observers carried on: got order #${(await next).payload.id}`);

    step('Status');
    console.log(JSON.stringify(notifier.status(), null, 2).replace(/^/gm, '  '));
  } finally {
    await cleanUp();
  }
  step('Done');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
