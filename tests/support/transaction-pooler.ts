import { createConnection, createServer, type Server } from 'node:net';

/** A loopback proxy that shows a client what a transaction-mode pooler shows it. */
export interface FakeTransactionPooler {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Forwards to PostgreSQL but, like PgBouncer in transaction mode, hands the client a
 * BackendKeyData of its own (not the server's pid) and never passes on a NotificationResponse
 * (the LISTENing server session is not the client's between transactions). Plain TCP only: it
 * parses the server's messages, so the client must not ask for TLS.
 */
export async function startFakeTransactionPooler(targetPort: number): Promise<FakeTransactionPooler> {
  const sockets = new Set<{ destroy(): void }>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (pending.length >= 5) {
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        const message = Buffer.from(pending.subarray(0, 1 + length));
        pending = pending.subarray(1 + length);
        const type = String.fromCharCode(message[0] ?? 0);
        if (type === 'A') continue; // NotificationResponse: dropped
        if (type === 'K') message.writeInt32BE(message.readInt32BE(5) + 1_000_000, 5); // a pid of "its own"
        out.push(message);
      }
      if (out.length > 0) client.write(Buffer.concat(out));
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
