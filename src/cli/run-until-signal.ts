import { Subscription } from 'rxjs';

import { closeThenExit } from './close-then-exit.js';
import type { CliIo } from './io.js';

/** A long-running command under way: see {@link runUntilSignal}. */
export interface CommandRun {
  /**
   * The command's own subscriptions, released after closing (see `closeThenExit`). Made before
   * anything is subscribed: a first value may end the command while it is being subscribed.
   */
  readonly subscriptions: Subscription;
  /** True once the command is ending: nothing more is worth printing. */
  readonly ended: boolean;
  /** Ends the command with this exit code; only the first call counts. */
  end(code: number): void;
  /** The exit code, once closed: `end`'s, or 1 when closing failed. */
  readonly exitCode: Promise<number>;
}

/**
 * Runs a long-running command (`listen`, `relay`) until SIGINT or SIGTERM, which end it with exit
 * code 0 after a `closing` line, or until the command calls `end(code)` itself. Ending stops
 * listening for the signals, calls `onEnd`, then closes (`closeThenExit`).
 *
 * @param close - closes what the command runs.
 * @param redact - hides credentials in the message of a failed close.
 * @param onEnd - undoes what the command set up beyond its subscriptions, before closing.
 */
export function runUntilSignal(
  io: CliIo,
  close: () => Promise<void>,
  redact: (text: string) => string,
  onEnd: () => void = () => undefined,
): CommandRun {
  const subscriptions = new Subscription();
  let ended = false;
  let resolve: (code: number) => void = () => undefined;
  const exitCode = new Promise<number>((settle) => {
    resolve = settle;
  });
  const end = (code: number): void => {
    if (ended) return;
    ended = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) io.process.off(signal, onSignal);
    onEnd();
    void closeThenExit(close, subscriptions, io, redact, code).then(resolve);
  };
  const onSignal = (): void => {
    io.stderr.write('pgnotifier: closing\n');
    end(0);
  };
  io.process.on('SIGINT', onSignal);
  io.process.on('SIGTERM', onSignal);
  return {
    subscriptions,
    get ended() {
      return ended;
    },
    end,
    exitCode,
  };
}
