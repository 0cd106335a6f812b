import { get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createSseServer } from '../examples/sse/server.js';
import { Notifier } from '../src/index.js';
import { databaseUrl, pgNotify, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: unknown;
}

/** An EventSource-like reader over Node's http client: the events received so far. */
function openStream(port: number, path: string): Promise<{ response: IncomingMessage; events: SseEvent[]; close: () => void }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream' } }, (response) => {
      const events: SseEvent[] = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(': ');
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
          }
          const data = fields.get('data');
          if (data !== undefined)
            events.push({ event: fields.get('event') ?? 'message', id: fields.get('id'), data: JSON.parse(data) as unknown });
        }
      });
      resolve({ response, events, close: () => request.destroy() });
    });
    request.on('error', reject);
  });
}

function statusOf(port: number, path: string): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode, body });
      });
    }).on('error', reject);
  });
}

describe('examples/sse: a Server-Sent Events endpoint', () => {
  let notifier: Notifier;
  let server: Server;
  let port: number;
  const [orders, audit, secret] = [uniqueChannel('orders'), uniqueChannel('audit'), uniqueChannel('secret')];

  beforeAll(async () => {
    // One notifier for the whole file (db.track would close it after the first test).
    notifier = new Notifier(databaseUrl());
    server = createSseServer(notifier, { channels: [orders, audit] });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await notifier.close();
  });

  test('streams NOTIFYs on the channels asked for, in order, as events named after the channel', async () => {
    const stream = await openStream(port, `/events?channel=${orders}&channel=${audit}`);
    expect(stream.response.statusCode).toBe(200);
    expect(stream.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await waitFor('the ready event', () => stream.events.some((e) => e.event === 'ready'));

    await pgNotify(db.client, orders, '{"id":1}');
    await pgNotify(db.client, audit, 'who did it');
    await pgNotify(db.client, orders, '{"id":2}');
    await waitFor('three events', () => stream.events.length === 4);
    const { rows } = await db.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]?.pid;
    expect(stream.events).toEqual([
      { event: 'ready', id: '1', data: { channels: [orders, audit] } },
      { event: orders, id: '2', data: { payload: { id: 1 }, pid } },
      { event: audit, id: '3', data: { payload: 'who did it', pid } },
      { event: orders, id: '4', data: { payload: { id: 2 }, pid } },
    ]);
    stream.close();
  });

  test('a browser that goes away stops counting: the channel is UNLISTENed when no one watches', async () => {
    const first = await openStream(port, `/events?channel=${audit}`);
    const second = await openStream(port, `/events?channel=${audit}`);
    await waitFor('both streams ready', () => first.events.length === 1 && second.events.length === 1);
    expect(notifier.channels()[audit]?.observers).toBe(2);
    expect(notifier.activeChannels()).toContain(audit);

    first.close();
    await waitFor('one observer left', () => notifier.channels()[audit]?.observers === 1);
    await pgNotify(db.client, audit, '"still here"');
    await waitFor('the remaining stream to get it', () => second.events.length === 2);
    expect(second.events[1]?.data).toEqual({ payload: 'still here', pid: expect.any(Number) as number });

    second.close();
    await waitFor('the channel to be UNLISTENed', () => !notifier.activeChannels().includes(audit));
  });

  test('refuses what it does not offer, with a reason', async () => {
    expect(await statusOf(port, '/events')).toEqual({ status: 400, body: expect.stringMatching(/at least one channel/) as string });
    expect(await statusOf(port, `/events?channel=${secret}`)).toEqual({
      status: 403,
      body: expect.stringMatching(/not offered/) as string,
    });
    expect(await statusOf(port, `/events?channel=${'x'.repeat(64)}`)).toEqual({ status: 400, body: expect.stringMatching(/63/) as string });
    expect(notifier.channels()[secret]).toBeUndefined();
  });

  test('serves the page and the status', async () => {
    const page = await statusOf(port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain(`new EventSource('/events?channel=${orders}&channel=${audit}')`);
    const status = await statusOf(port, '/status');
    expect(JSON.parse(status.body)).toMatchObject({ running: true, connection: { status: 'connected' } });
  });

  test('once the notifier is closed, open streams end and new ones get 503', async () => {
    const other = new Notifier(databaseUrl());
    const closing = createSseServer(other, { channels: [orders] });
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    const otherPort = (closing.address() as AddressInfo).port;
    try {
      const stream = await openStream(otherPort, `/events?channel=${orders}`);
      await waitFor('ready', () => stream.events.length === 1);
      const ended = new Promise((resolve) => stream.response.once('end', resolve));
      await other.close();
      await ended;
      expect(await statusOf(otherPort, `/events?channel=${orders}`)).toEqual({
        status: 503,
        body: expect.stringMatching(/closed/) as string,
      });
    } finally {
      closing.closeAllConnections();
      await new Promise((resolve) => closing.close(resolve));
    }
  });
});
