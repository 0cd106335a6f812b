import type { Subscription } from 'rxjs';

import { messageOf } from '../errors/message-of.js';
import type { CliIo } from './io.js';

/**
 * Ends a long-running command (`listen`, `relay`): closes what it runs, then releases the
 * command's own subscriptions — after, not before, since releasing them first would UNLISTEN each
 * channel on the way out — and resolves the exit code: `code`, or 1 when closing failed.
 *
 * @param redact - hides credentials in the message of a failed close.
 */
export function closeThenExit(
  close: () => Promise<void>,
  subscriptions: Subscription,
  io: CliIo,
  redact: (text: string) => string,
  code: number,
): Promise<number> {
  return close().then(
    () => {
      subscriptions.unsubscribe();
      return code;
    },
    (error: unknown) => {
      subscriptions.unsubscribe();
      io.stderr.write(`pgnotifier: closing failed: ${redact(messageOf(error))}\n`);
      return code === 0 ? 1 : code;
    },
  );
}
