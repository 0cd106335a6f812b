import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP proxy that can turn its open connections into half-open ones. */
export interface TcpProxy {
  readonly port: number;
  /**
   * Stops forwarding on every open connection without closing any socket: the client sees a
   * connection on which nothing ever comes back. New connections are forwarded as usual.
   */
  blackhole(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, listenPort = 0): Promise<TcpProxy> {
  const pairs: { client: Socket; upstream: Socket; live: boolean }[] = [];
  const server: Server = createServer((client) => {
    const upstream = createConnection(targetPort, '127.0.0.1');
    const pair = { client, upstream, live: true };
    pairs.push(pair);
    client.on('data', (chunk) => {
      if (pair.live) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (pair.live) client.write(chunk);
    });
    const end = () => {
      if (!pair.live) return; // a blackholed connection never closes from our side
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    blackhole() {
      for (const pair of pairs) pair.live = false;
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** A loopback TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
