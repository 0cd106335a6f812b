import { ConnectionError } from '../errors/connection-error.js';

/** What {@link startHeartbeat} needs from the connection it watches. */
export interface HeartbeatOptions {
  /** How often to ping, in milliseconds. */
  readonly intervalMs: number;
  /** How long a ping may go unanswered while nothing else arrives, in milliseconds. */
  readonly timeoutMs: number;
  /** Sends one ping; resolves when the server answered it (with anything). */
  readonly ping: () => Promise<unknown>;
  /** A counter that moves whenever anything arrives on the connection. */
  readonly progress: () => number;
  /** Called once when the connection is judged dead. */
  readonly onDead: (error: ConnectionError) => void;
}

/** A deadline timer this late (or half the timeout, if less) means our own event loop was blocked. */
const STALL_MS = 1_000;

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
  let check: NodeJS.Immediate | undefined;
  let stopped = false;

  const die = (error: ConnectionError): void => {
    if (stopped) return;
    stop();
    onDead(error);
  };
  // The timeout counts only time our event loop was awake. A timer that fires late means the
  // loop was blocked (a long synchronous task of the application): the answer may be sitting in
  // the socket, unread, because timers run before I/O in the loop. So a deadline never decides
  // on its own: it looks again from setImmediate, after the loop has read the socket, and a
  // deadline that fired far behind schedule starts a fresh wait instead of declaring death.
  const arm = (seen: number): void => {
    const due = Date.now() + timeoutMs;
    deadline = setTimeout(() => {
      const stalled = Date.now() - due > Math.min(STALL_MS, timeoutMs / 2);
      check = setImmediate(() => {
        const now = progress();
        if (now !== seen || stalled) arm(now);
        else die(new ConnectionError(`No answer from the server for ${String(timeoutMs)} ms (heartbeat)`));
      });
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
        clearImmediate(check);
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
    clearImmediate(check);
  }
  return stop;
}
