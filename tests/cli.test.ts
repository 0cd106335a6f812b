import { reasonOf } from '../src/cli/listen.js';
import { ConnectionError, MAX_CHANNEL_BYTES, MAX_PAYLOAD_BYTES, StandbyError, TransactionPoolerError } from '../src/index.js';
import { startChild, envWithout } from './support/child.js';
import { connectClient, databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/private-postgres.js';

const CLI = 'src/cli/main.ts';
const db = useTestDatabase();

function cli(args: readonly string[], env = envWithout({ DATABASE_URL: databaseUrl() }), killAfterMs?: number) {
  return startChild(CLI, args, env, killAfterMs);
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

  test('prints a JSON payload as the text received, never re-encoded; other text as a JSON string', async () => {
    const channel = uniqueChannel('verbatim');
    const child = cli(['listen', channel]);
    await child.waitForOutput('stderr', /listening on/);
    const payloads = [
      '{"big": 12345678901234567890, "huge": 1e400, "negativeZero": -0, "z": 1, "a": [1.50, "\\u00e9"]}',
      '[1,\r\n 2]',
      '"a JSON string"',
      'plain text, "quoted"',
      '',
      'end',
    ];
    for (const payload of payloads) await pgNotify(db.client, channel, payload);
    await child.waitForOutput('stdout', /"payload":"end"/);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);

    const payloadsPrinted = child
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => /^\{"channel":"[^"]+","payload":(.*),"pid":\d+,"receivedAt":"[^"]+"\}$/.exec(line)?.[1]);
    expect(payloadsPrinted).toEqual([
      // Byte for byte: JSON.parse + JSON.stringify would give 12345678901234567000, null, 0, 1.5 and é.
      '{"big": 12345678901234567890, "huge": 1e400, "negativeZero": -0, "z": 1, "a": [1.50, "\\u00e9"]}',
      // Line breaks between tokens become spaces: one line per notification.
      '[1,   2]',
      '"a JSON string"',
      '"plain text, \\"quoted\\""',
      '""',
      '"end"',
    ]);
    // Every line is still JSON.
    expect(jsonLines(child.stdout())).toHaveLength(payloads.length);
  });

  test('--pretty prints a readable line, with the payload as sent', async () => {
    const channel = uniqueChannel('pretty');
    const child = cli(['listen', '--pretty', channel]);
    await child.waitForOutput('stderr', /listening on/);
    await pgNotify(db.client, channel, '{"state":"paid","id":12345678901234567890}');
    await pgNotify(db.client, channel, 'red \u001b[31malert\u001b[0m');
    await child.waitForOutput('stdout', /alert/);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
    const lines = child.stdout().split('\n');
    const prefix = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${channel}  pid \\d+  `);
    expect(lines.every((line) => line === '' || prefix.test(line))).toBe(true);
    // The numbers as sent (util.inspect of the parsed value showed 12345678901234567000); control
    // characters escaped so a payload cannot drive the terminal.
    expect(lines.map((line) => line.replace(prefix, ''))).toEqual([
      '{"state":"paid","id":12345678901234567890}',
      String.raw`'red \x1B[31malert\x1B[0m'`,
      '',
    ]);
  });

  test('--pretty cuts a long payload and says so (an 8 KB payload stays a short line)', async () => {
    const channel = uniqueChannel('prettybig');
    const child = cli(['listen', '--pretty', channel]);
    await child.waitForOutput('stderr', /listening on/);
    // The shapes that util.inspect blows up: deep nesting and many small objects.
    const deep = '['.repeat(3999) + ']'.repeat(3999);
    const wide = JSON.stringify(Array.from({ length: 700 }, (_, i) => ({ i })));
    await pgNotify(db.client, channel, deep);
    await pgNotify(db.client, channel, wide);
    await pgNotify(db.client, channel, 'end');
    await child.waitForOutput('stdout', /'end'/);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
    const lines = child.stdout().split('\n').slice(0, -1);
    expect(lines).toHaveLength(3);
    expect(Buffer.byteLength(child.stdout())).toBeLessThan(4_000);
    expect(lines[0]).toMatch(/\[{20}… \(cut: 1000 of 7998 characters shown; without --pretty every payload prints whole\)$/);
    expect(lines[1]).toMatch(new RegExp(`  \\[\\{"i":0\\},\\{"i":1\\}.*… \\(cut: 1000 of ${wide.length} characters shown`));
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

  test('a lost connection: one line with the server\'s reason and SQLSTATE, then "listening again" with the new backend pid', async () => {
    const channel = uniqueChannel('lost');
    // Our own application_name, so only this CLI's backend is terminated on the shared server.
    const applicationName = uniqueChannel('cli_app');
    const backendPid = async (): Promise<number[]> => {
      const { rows } = await db.client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
        applicationName,
      ]);
      return rows.map((row) => row.pid);
    };
    const child = cli(['listen', channel], envWithout({ DATABASE_URL: databaseUrl(), PGAPPNAME: applicationName }));
    await child.waitForOutput('stderr', /listening .*on/);
    const [firstPid] = await backendPid();

    await db.client.query('SELECT pg_terminate_backend($1)', [firstPid]);
    await child.waitForOutput('stderr', /listening again/);
    // Still listening: this notification is also the marker that every line before it is out.
    await pgNotify(db.client, channel, '"after"');
    await child.waitForOutput('stdout', /"payload":"after"/);
    const [secondPid] = await backendPid();
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);

    const stderr = child.stderr();
    const lost = stderr.split('\n').filter((line) => line.includes('connection lost'));
    expect(lost).toEqual([
      'pgnotifier: connection lost: terminating connection due to administrator command [57P01]; retrying (attempt 1)',
    ]);
    // The reconnect succeeded at once: no line says an attempt failed.
    expect(stderr).not.toMatch(/failed/i);
    expect(stderr).toMatch(new RegExp(`listening on "${channel}" \\(\\S+, backend pid ${String(firstPid)}\\)`));
    expect(secondPid).not.toBe(firstPid);
    expect(stderr).toContain(
      `listening again (backend pid ${String(secondPid)}) on "${channel}"; notifications sent while disconnected are lost`,
    );
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

describe('a server that asks for a password none was given for (SCRAM: pg gives up on the client side)', () => {
  let server: PrivatePostgres;
  let url: string;
  beforeAll(async () => {
    server = await startPrivatePostgres();
    const admin = await connectClient(server.url);
    try {
      const { rows } = await admin.query<{ hba_file: string }>('SHOW hba_file');
      const hba = rows[0]?.hba_file ?? '';
      await admin.query(`COPY (SELECT 'host all all 127.0.0.1/32 scram-sha-256') TO '${hba.replaceAll("'", "''")}'`);
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
    const withoutPassword = new URL(server.url);
    withoutPassword.password = '';
    url = withoutPassword.toString();
  });
  afterAll(async () => {
    await server.destroy();
  });

  // Before the fix, notify waited for the server's authentication_timeout (60 s) with the socket open.
  for (const args of [
    ['notify', 'ch', '1'],
    ['listen', 'ch'],
  ]) {
    test(`${args[0] ?? ''} ends at once with exit code 1`, async () => {
      const child = cli([...args, '--url', url]);
      expect(await child.exited).toBe(1);
      expect(child.stderr()).toMatch(/cannot connect to postgres@127\.0\.0\.1:\d+\/postgres: .*password/);
    });
  }
});

describe('the reason printed for a failed or lost connection', () => {
  test('a standby or a transaction pooler: the message that says what to do', () => {
    const readOnly = Object.assign(new Error('cannot execute LISTEN during recovery'), { code: '25006' });
    expect(reasonOf(new StandbyError({ cause: readOnly }))).toBe('Connected to a read-only standby; LISTEN needs the primary [25006]');
    expect(reasonOf(new TransactionPoolerError())).toBe(new TransactionPoolerError().message);
  });

  test("the server's words with the SQLSTATE; a socket code only once", () => {
    const fatal = Object.assign(new Error('terminating connection due to idle-session timeout'), { code: '57P05' });
    expect(reasonOf(new ConnectionError('The listening connection was lost', { cause: fatal }))).toBe(
      'terminating connection due to idle-session timeout [57P05]',
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(reasonOf(new ConnectionError('Could not connect to PostgreSQL', { cause: refused, explain: true }))).toBe(
      'connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(reasonOf(new ConnectionError('No answer to the heartbeat'))).toBe('No answer to the heartbeat');
  });
});

describe('pgnotifier listen through an outage of its server', () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = await startPrivatePostgres();
  });
  afterAll(async () => {
    await server.destroy();
  });

  test('one "connection lost" line, one line per failed retry with its reason, then "listening again"', async () => {
    const channel = uniqueChannel('outage');
    const child = cli(['listen', channel, '--url', server.url], envWithout({}), 60_000);
    await child.waitForOutput('stderr', /listening on/);
    await server.stop();
    await child.waitForOutput('stderr', /reconnecting failed: .*ECONNREFUSED/, 30_000);
    await server.start();
    await child.waitForOutput('stderr', /listening again \(backend pid \d+\)/, 30_000);
    const sender = await connectClient(server.url);
    try {
      // The marker that every line before it is out.
      await pgNotify(sender, channel, '"back"');
      await child.waitForOutput('stdout', /"payload":"back"/);
    } finally {
      await sender.end();
    }
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);

    const lines = child.stderr().split('\n');
    expect(lines.filter((line) => line.includes('connection lost'))).toEqual([
      expect.stringMatching(/^pgnotifier: connection lost: .+ \[\w+\]; retrying \(attempt 1\)$/) as string,
    ]);
    const failed = lines.filter((line) => line.includes('failed'));
    expect(failed.length).toBeGreaterThanOrEqual(1);
    // Each names its reason: refused while the server is down, reset or "starting up" as it comes back.
    for (const line of failed) expect(line).toMatch(/^pgnotifier: reconnecting failed: \S.*; retrying \(attempt \d+\)$/);
    expect(failed.some((line) => /ECONNREFUSED|ECONNRESET|starting up|shutting down/.test(line))).toBe(true);
  }, 60_000);
});

describe('a password is never printed', () => {
  // A colon encoded by mistake makes the password part of the user name: the server then names it.
  const secret = 'hunter2pw';
  const url = new URL(databaseUrl());
  url.username = `${url.username || 'postgres'}%3A${secret}`;
  for (const args of [
    ['notify', 'ch', '1'],
    ['listen', 'ch'],
  ]) {
    test(`${args[0] ?? ''} with an encoded colon in the user name`, async () => {
      const child = cli([...args, '--url', url.toString()]);
      expect(await child.exited).toBe(1);
      expect(child.stderr()).toMatch(/cannot connect to \w+:\*\*\*@/);
      // The server's own message names the role ("role … does not exist" under trust auth, "password
      // authentication failed for user …" where it asks for a password first): hidden there too.
      expect(child.stderr()).toMatch(/(role|user) "[^"]*:\*\*\*"/);
      expect(child.stderr()).not.toContain(secret);
    });
  }

  test('in a URL given where a channel or a command was expected', async () => {
    const withPassword = `postgres://someone:${secret}@127.0.0.1:1/db`;
    for (const args of [['listen', withPassword], ['notify', withPassword, '1'], ['notify', 'ch', '1', withPassword], [withPassword]]) {
      const child = cli(args);
      expect(await child.exited).toBe(2);
      expect(child.stderr()).not.toContain(secret);
    }
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
    {
      title: 'a port out of range in the URL parameters',
      args: ['notify', 'ch', '1', '--url', 'postgres://postgres@127.0.0.1/test?port=70000'],
      message: /the port parameter of --url is not a port number \(1 to 65535\): "70000"/,
    },
    {
      title: 'a malformed %-escape in the user name',
      args: ['listen', 'ch', '--url', 'postgres://us%zzer@127.0.0.1:1/db'],
      message: /--url has a malformed %-escape in the user name/,
    },
    {
      title: 'a malformed %-escape in the password (not shown)',
      args: ['notify', 'ch', '1', '--url', 'postgres://user:se%E0cret@127.0.0.1:1/db'],
      message: /^pgnotifier: --url has a malformed %-escape in the password \([^)]*\)$/,
    },
    {
      title: 'a malformed %-escape in the database name',
      args: ['notify', 'ch', '1', '--url', 'postgres://user@127.0.0.1:1/d%C3b'],
      message: /--url has a malformed %-escape in the database name/,
    },
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

  test('notify refuses a reserved wake-up channel before connecting', async () => {
    const child = cli(['notify', 'pgnotifier:pgnotifier', 'hello', '--url', 'postgres://nobody@127.0.0.1:1/none']);
    expect(await child.exited).toBe(2);
    expect(child.stderr().trim().split('\n')).toEqual([
      expect.stringMatching(/^pgnotifier: Invalid channel name "pgnotifier:pgnotifier": names starting with "pgnotifier:" are reserved/),
      expect.stringMatching(/^usage: pgnotifier listen/),
    ]);
  });

  test("install's usage errors print install's usage line", async () => {
    for (const args of [
      ['install', '--schema', 'pg_bad'],
      ['install', '--bogus'],
    ]) {
      const child = cli(args);
      expect(await child.exited).toBe(2);
      expect(child.stderr().trim().split('\n')).toEqual([
        expect.stringMatching(/^pgnotifier: install: /),
        'usage: pgnotifier install [--schema <schema>] [--url <url>] (pgnotifier --help)',
      ]);
    }
  });

  // pg hands a bad port to the socket, which throws where pg does not expect it: the connect
  // never settled and both commands ended with exit code 13 and no message.
  test('a PGPORT that is not a port, for both commands', async () => {
    for (const args of [
      ['notify', 'ch', '1'],
      ['listen', 'ch'],
    ]) {
      const child = cli(args, envWithout({ PGHOST: '127.0.0.1', PGPORT: 'abc' }));
      expect(await child.exited).toBe(2);
      expect(child.stderr().trim().split('\n')).toEqual([
        'pgnotifier: PGPORT is not a port number (1 to 65535): "abc"',
        expect.stringMatching(/^usage: /),
      ]);
    }
  });

  test('--help prints the usage on stdout and exits 0', async () => {
    const child = cli(['--help']);
    expect(await child.exited).toBe(0);
    expect(child.stdout()).toMatch(/^Usage:\n {2}pgnotifier listen <channel\.\.\.>/);
    // notify sends the text as given (tested above); the help said "compacted".
    expect(child.stdout()).not.toMatch(/compact/i);
    expect(child.stdout()).toMatch(/sent exactly as given/);
  });

  test('relay --help and install -h print the same usage and exit 0', async () => {
    for (const args of [
      ['relay', '--help'],
      ['install', '-h'],
    ]) {
      const child = cli(args);
      expect(await child.exited).toBe(0);
      expect(child.stdout()).toMatch(/^Usage:\n {2}pgnotifier listen <channel\.\.\.>/);
    }
  });
});
