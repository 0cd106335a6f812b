import { ConnectionError } from '../errors/connection-error.js';

/** What {@link startHeartbeat} needs from the connection it watches. */
export interface HeartbeatOptions {
  /** How often to ping, in milliseconds. */
  readonly intervalMs: number;
  /** How long a ping may go unanswered while nothing else arrives, in milliseconds. */
  readonly timeoutMs: number;
  /** Sends one ping; resolves when the server answered it. */
  readonly ping: () => Promise<unknown>;
  /** A counter that moves whenever anything arrives on the connection. */
  readonly progress: () => number;
  /** Called once when the connection is judged dead. */
  readonly onDead: (error: ConnectionError) => void;
}

/**
 * Pings a connection every `intervalMs` and declares it dead when a ping goes `timeoutMs`
 * without an answer and without anything else arriving meanwhile, so a half-open connection is
 * found within `intervalMs + timeoutMs`. A ping queued behind a long batch of LISTENs is not a
 * false alarm: each answer on the way counts as life. Never two pings in flight.
 *
 * @returns a function that stops the heartbeat.
 */
export function startHeartbeat(options: HeartbeatOptions): () => void {
  const { intervalMs, timeoutMs, ping, progress, onDead } = options;
  let inFlight = false;
  let deadline: NodeJS.Timeout | undefined;
  let stopped = false;

  const die = (error: ConnectionError): void => {
    if (stopped) return;
    stop();
    onDead(error);
  };
  const arm = (seen: number): void => {
    deadline = setTimeout(() => {
      const now = progress();
      if (now !== seen) arm(now);
      else die(new ConnectionError(`No answer from the server for ${timeoutMs} ms (heartbeat)`));
    }, timeoutMs);
  };
  const interval = setInterval(() => {
    if (inFlight) return;
    inFlight = true;
    arm(progress());
    ping().then(
      () => {
        inFlight = false;
        clearTimeout(deadline);
      },
      (cause: unknown) => {
        die(new ConnectionError('The heartbeat failed', { cause, explain: true }));
      },
    );
  }, intervalMs);

  function stop(): void {
    stopped = true;
    clearInterval(interval);
    clearTimeout(deadline);
  }
  return stop;
}
