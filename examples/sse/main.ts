/**
 * Runs the SSE example: `npm run example:sse`. Connects with DATABASE_URL (or the PG* variables)
 * and serves on PORT (8080), offering the channels in SSE_CHANNELS (default: orders,audit).
 */
import { Notifier } from 'pgnotifier';

import { createSseServer } from './server.js';

const channels = (process.env.SSE_CHANNELS ?? 'orders,audit').split(',').filter((channel) => channel !== '');
const port = Number(process.env.PORT ?? 8080);
const notifier = new Notifier(process.env.DATABASE_URL ?? {});
const server = createSseServer(notifier, { channels });

server.listen(port, () => {
  console.log(`SSE on http://localhost:${port}/ for channels ${channels.join(', ')} (Ctrl-C to stop)`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Open streams end when the notifier completes them; then the server can close.
    server.closeIdleConnections();
    void notifier.close().then(() => server.close());
  });
}
