import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The test run's NATS server (JetStream on). */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/**
 * A connection to the test NATS server, or `undefined` (with the reason printed once) when none
 * is reachable: the NATS tests then skip rather than fail on a machine without NATS.
 */
export async function natsOrSkip(file: string): Promise<NatsConnection | undefined> {
  try {
    return await connect({ servers: NATS_URL, timeout: 2_000, maxReconnectAttempts: 0 });
  } catch (error) {
    process.stdout.write(
      `\n${file}: SKIPPED, no NATS server at ${NATS_URL} (${(error as Error).message}); start one with nats-server -a 127.0.0.1 -p 4222 -js\n`,
    );
    return undefined;
  }
}
