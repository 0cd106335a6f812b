import { MAX_CHANNEL_BYTES, MAX_PAYLOAD_BYTES } from '../src/index.js';
import { startChild, envWithout } from './support/child.js';
import { connectClient, databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const CLI = 'src/cli/main.ts';
const db = useTestDatabase();

function cli(args: readonly string[], env = envWithout({ DATABASE_URL: databaseUrl() })) {
  return startChild(CLI, args, env);
}

function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

describe('pgnotifier listen', () => {
  test('prints one JSON line per notification on every channel, and exits 0 on SIGINT', async () => {
    const [orders, audit] = [uniqueChannel('Orders'), uniqueChannel('audit')];
    const child = cli(['listen', orders, audit]);
    await child.waitForOutput('stderr', /listening on/);
    const before = Date.now();
    await pgNotify(db.client, orders, '{"id":1}');
    await pgNotify(db.client, audit, 'plain text');
    await child.waitForOutput('stdout', /plain text/);

    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
    const { rows } = await db.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(jsonLines(child.stdout())).toEqual([
      { channel: orders, payload: { id: 1 }, pid: rows[0]?.pid, receivedAt: expect.any(String) as string },
      { channel: audit, payload: 'plain text', pid: rows[0]?.pid, receivedAt: expect.any(String) as string },
    ]);
    const receivedAt = Date.parse((jsonLines(child.stdout())[0] as { receivedAt: string }).receivedAt);
    expect(receivedAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(child.stderr()).toMatch(/closing/);
  });

  test('exits 0 on SIGTERM and leaves no session behind', async () => {
    const channel = uniqueChannel('term');
    const child = cli(['listen', channel]);
    await child.waitForOutput('stderr', /listening on/);
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    await waitFor('the listening session to end', async () => {
      const { rows } = await db.client.query('SELECT 1 FROM pg_stat_activity WHERE query LIKE $1', [`%${channel}%`]);
      return rows.length === 0;
    });
  });

  test('a reader that goes away (| head -1) ends it with exit code 0', async () => {
    const channel = uniqueChannel('pipe');
    const child = cli(['listen', channel]);
    await child.waitForOutput('stderr', /listening on/);
    await pgNotify(db.client, channel, '1');
    await child.waitForOutput('stdout', /"payload":1/);
    child.closeStdout();
    // The next write finds the pipe closed.
    await pgNotify(db.client, channel, '2');
    expect(await child.exited).toBe(0);
    expect(child.stderr()).not.toMatch(/cannot write output/);
  });

  test('--pretty prints a readable line', async () => {
    const channel = uniqueChannel('pretty');
    const child = cli(['listen', '--pretty', channel]);
    await child.waitForOutput('stderr', /listening on/);
    await pgNotify(db.client, channel, '{"state":"paid"}');
    await child.waitForOutput('stdout', /paid/);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
    expect(child.stdout()).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${channel}  pid \\d+  \\{ state: 'paid' \\}\\n$`));
  });

  test('takes the connection from the PG* variables when there is no URL', async () => {
    const url = new URL(databaseUrl());
    const channel = uniqueChannel('pgenv');
    const child = cli(
      ['listen', channel],
      envWithout({
        PGHOST: url.hostname,
        PGPORT: url.port || '5432',
        PGUSER: decodeURIComponent(url.username),
        PGPASSWORD: decodeURIComponent(url.password),
        PGDATABASE: url.pathname.slice(1),
      }),
    );
    await child.waitForOutput('stderr', /listening on/);
    expect(child.stderr()).toContain(`${decodeURIComponent(url.username)}@${url.hostname}:${url.port || '5432'}/${url.pathname.slice(1)}`);
    await pgNotify(db.client, channel, '7');
    await child.waitForOutput('stdout', /"payload":7/);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
  });

  test('an unreachable server: one line, a hint, exit code 1', async () => {
    const child = cli(['listen', 'ch', '--url', 'postgres://postgres@127.0.0.1:1/test']);
    expect(await child.exited).toBe(1);
    expect(child.stderr()).toMatch(/cannot connect to postgres@127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
    expect(child.stderr()).toMatch(/^hint: /m);
    expect(child.stderr()).not.toMatch(/^\s+at /m);
  });
});

describe('pgnotifier notify', () => {
  test('sends JSON as given and text as given', async () => {
    const listener = await connectClient();
    try {
      const channel = uniqueChannel('send');
      const received: string[] = [];
      listener.on('notification', (message) => received.push(message.payload ?? ''));
      await listener.query(`LISTEN "${channel}"`);

      const json = cli(['notify', channel, '{"id": 12345678901234567890}']);
      expect(await json.exited).toBe(0);
      expect(json.stderr()).toMatch(/sent 28 bytes of JSON/);
      const text = cli(['notify', channel, 'hello there']);
      expect(await text.exited).toBe(0);
      expect(text.stderr()).toMatch(/sent 11 bytes of text/);

      await waitFor('both notifications', () => received.length === 2);
      expect(received).toEqual(['{"id": 12345678901234567890}', 'hello there']);
    } finally {
      await listener.end();
    }
  });

  test('a payload over the limit is refused before connecting, with the limit named', async () => {
    const child = cli(
      ['notify', 'ch', 'x'.repeat(MAX_PAYLOAD_BYTES + 1)],
      envWithout({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }),
    );
    expect(await child.exited).toBe(2);
    expect(child.stderr()).toContain(`is ${MAX_PAYLOAD_BYTES + 1} bytes; PostgreSQL accepts at most ${MAX_PAYLOAD_BYTES}`);
  });

  test('an unreachable server: one line, a hint, exit code 1', async () => {
    const child = cli(['notify', 'ch', '1', '--url', 'postgres://postgres@127.0.0.1:1/test']);
    expect(await child.exited).toBe(1);
    expect(child.stderr().trim().split('\n')).toEqual([
      expect.stringMatching(/^pgnotifier: cannot connect to postgres@127\.0\.0\.1:1\/test: .*ECONNREFUSED/) as string,
      expect.stringMatching(/^hint: /) as string,
    ]);
  });
});

describe('bad arguments get one line, a usage hint and exit code 2, never a stack trace', () => {
  const cases: { title: string; args: string[]; message: RegExp }[] = [
    { title: 'no command', args: [], message: /no command given/ },
    { title: 'an unknown command', args: ['watch', 'ch'], message: /unknown command "watch"/ },
    { title: 'listen without a channel', args: ['listen'], message: /listen needs at least one channel/ },
    { title: 'an invalid channel name', args: ['listen', 'x'.repeat(MAX_CHANNEL_BYTES + 1)], message: /Invalid channel name .*63/ },
    { title: 'notify without a payload', args: ['notify', 'ch'], message: /notify needs a payload/ },
    { title: 'an unknown option', args: ['listen', '--bogus', 'ch'], message: /Unknown option '--bogus'/ },
    { title: 'a URL that is not one', args: ['listen', 'ch', '--url', 'not a url'], message: /--url is not a URL/ },
  ];
  for (const { title, args, message } of cases) {
    test(title, async () => {
      const child = cli(args);
      expect(await child.exited).toBe(2);
      const lines = child.stderr().trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(message);
      expect(lines[1]).toMatch(/^usage: pgnotifier listen/);
      expect(child.stdout()).toBe('');
    });
  }

  test('--help prints the usage on stdout and exits 0', async () => {
    const child = cli(['--help']);
    expect(await child.exited).toBe(0);
    expect(child.stdout()).toMatch(/^Usage:\n {2}pgnotifier listen <channel\.\.\.>/);
  });
});
