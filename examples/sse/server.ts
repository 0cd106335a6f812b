/**
 * A Server-Sent Events endpoint that streams PostgreSQL channels to browsers, on Node's own
 * `http` module. Run it with `npm run example:sse` and open http://localhost:8080/.
 *
 * GET /events?channel=orders&channel=audit   text/event-stream: one event per notification
 * GET /status                                notifier.status() as JSON
 * GET /                                      a page that shows the events live
 *
 * There is no authentication here: the allow-list of channels is the only control. Put it behind
 * your own authentication before exposing data that is not public.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { merge, type Subscription } from 'rxjs';

import { InvalidChannelError, NotifierClosedError, validateChannel, type Notification, type Notifier } from 'pgnotifier';

/** Options of {@link createSseServer}. */
export interface SseServerOptions {
  /** The channels browsers may ask for. Anything else is refused: channel names are not secrets, but the data may be. */
  readonly channels: readonly string[];
  /**
   * How often an idle stream gets a comment line, so proxies and browsers keep it open.
   * @defaultValue 15000
   */
  readonly keepAliveMs?: number;
  /**
   * How many bytes may wait for a slow client before it is dropped (its EventSource reconnects).
   * @defaultValue 1048576
   */
  readonly maxBufferedBytes?: number;
}

/**
 * An HTTP server that streams the notifier's channels as Server-Sent Events. Each browser is one
 * `channel$` observer per channel it asks for, so a channel is LISTENed while someone watches it.
 * After a reconnect every stream gets a `resync` event: notifications sent meanwhile are lost, so
 * the page should re-read what it shows.
 */
export function createSseServer(notifier: Notifier, options: SseServerOptions): Server {
  const { channels, keepAliveMs = 15_000, maxBufferedBytes = 1024 * 1024 } = options;
  const allowed = new Set(channels.map((channel) => validateChannel(channel)));

  return createServer((request, response) => {
    try {
      route(request, response);
    } catch (error) {
      if (error instanceof NotifierClosedError) reply(response, 503, 'The notifier is closed: shutting down\n');
      else throw error;
    }
  });

  function route(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET') {
      reply(response, 405, 'Only GET here\n');
      return;
    }
    if (url.pathname === '/events') stream(request, response, url.searchParams.getAll('channel'));
    else if (url.pathname === '/status') reply(response, 200, JSON.stringify(notifier.status()), 'application/json');
    else if (url.pathname === '/') reply(response, 200, page([...allowed]), 'text/html; charset=utf-8');
    else reply(response, 404, 'Not found\n');
  }

  function stream(request: IncomingMessage, response: ServerResponse, wanted: string[]): void {
    if (wanted.length === 0) {
      reply(response, 400, 'Ask for at least one channel: /events?channel=name\n');
      return;
    }
    for (const channel of wanted) {
      try {
        validateChannel(channel);
      } catch (error) {
        reply(response, 400, `${error instanceof InvalidChannelError ? error.message : 'Invalid channel'}\n`);
        return;
      }
      if (!allowed.has(channel)) {
        reply(response, 403, `Channel ${JSON.stringify(channel)} is not offered here\n`);
        return;
      }
    }

    // Before any header: this throws NotifierClosedError when the notifier is closed.
    const notifications = merge(...wanted.map((channel) => notifier.channel$(channel)));

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    response.write('retry: 2000\n\n');

    let sequence = 0;
    const send = (event: string, data: unknown): void => {
      response.write(`event: ${event}\nid: ${++sequence}\ndata: ${JSON.stringify(data)}\n\n`);
      // A client that cannot keep up is dropped rather than allowed to grow our memory.
      if (response.writableLength > maxBufferedBytes) response.destroy();
    };

    const subscriptions: Subscription[] = [
      notifications.subscribe({
        next: (notification: Notification) => {
          send(notification.channel, { payload: notification.payload, pid: notification.pid });
        },
        // The notifier closed or the channel was removed: end the stream.
        complete: () => response.end(),
      }),
      notifier.resync$.subscribe(() => {
        send('resync', {});
      }),
    ];
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), keepAliveMs);
    request.socket.once('close', () => {
      clearInterval(keepAlive);
      for (const subscription of subscriptions) subscription.unsubscribe();
    });

    // Resolves once the server LISTENs every channel asked for (the observers above asked for
    // them): from then on nothing is missed.
    void notifier.synced().then(() => {
      if (!response.destroyed) send('ready', { channels: wanted });
    });
  }
}

function reply(response: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  response.writeHead(status, { 'content-type': type }).end(body);
}

function page(channels: readonly string[]): string {
  const query = channels.map((channel) => `channel=${encodeURIComponent(channel)}`).join('&');
  const listeners = JSON.stringify(['ready', 'resync', ...channels]);
  return `<!doctype html>
<meta charset="utf-8">
<title>pgnotifier: live</title>
<h1>pgnotifier: live</h1>
<p>Try <code>pgnotifier notify ${channels[0] ?? 'orders'} '{"id":1}'</code> in a terminal.</p>
<ol id="events"></ol>
<script>
  const list = document.getElementById('events');
  const source = new EventSource('/events?${query}');
  for (const name of ${listeners}) {
    source.addEventListener(name, (event) => {
      const item = document.createElement('li');
      item.textContent = new Date().toLocaleTimeString() + '  ' + name + '  ' + event.data;
      list.prepend(item);
    });
  }
</script>
`;
}
