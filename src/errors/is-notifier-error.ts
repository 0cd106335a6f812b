import type { ChannelRefusedError } from './channel-refused-error.js';
import type { ConnectionError } from './connection-error.js';
import type { DurableUnavailableError } from './durable-unavailable-error.js';
import type { InvalidArgumentError } from './invalid-argument-error.js';
import type { InvalidChannelError } from './invalid-channel-error.js';
import type { NotifierClosedError } from './notifier-closed-error.js';
import { NotifierError } from './notifier-error.js';
import type { PayloadParseError } from './payload-parse-error.js';
import type { PayloadTooLargeError } from './payload-too-large-error.js';
import type { QueueUsageWarning } from './queue-usage-warning.js';
import type { ReplayGapError } from './replay-gap-error.js';
import type { StandbyError } from './standby-error.js';
import type { SubscriberError } from './subscriber-error.js';
import type { TransactionPoolerError } from './transaction-pooler-error.js';
import type { UnknownChannelError } from './unknown-channel-error.js';
import type { UnknownSubscriberError } from './unknown-subscriber-error.js';

/**
 * Every error class pgnotifier throws or reports, as a union discriminated by `name`: after
 * {@link isNotifierError}, `switch (error.name)` narrows to the class of each case.
 */
export type KnownNotifierError =
  | ChannelRefusedError
  | ConnectionError
  | DurableUnavailableError
  | InvalidArgumentError
  | InvalidChannelError
  | NotifierClosedError
  | PayloadParseError
  | PayloadTooLargeError
  | QueueUsageWarning
  | ReplayGapError
  | StandbyError
  | SubscriberError
  | TransactionPoolerError
  | UnknownChannelError
  | UnknownSubscriberError;

/**
 * Whether `value` is an error of pgnotifier's. `instanceof NotifierError` where it works, and the
 * `name` otherwise (an error from another copy of the package, e.g. one loaded with `require` and
 * one with `import`).
 *
 * @example
 * ```ts
 * import { isNotifierError } from 'pgnotifier';
 *
 * notifier.errors$.subscribe((error) => {
 *   if (!isNotifierError(error)) return;
 *   switch (error.name) {
 *     case 'SubscriberError':
 *       console.warn(error.id, error.channel, error.message); // narrowed to SubscriberError
 *       break;
 *     case 'ConnectionError':
 *       console.warn('connection:', error.message);
 *       break;
 *     default:
 *       console.warn(error.message);
 *   }
 * });
 * ```
 */
export function isNotifierError(value: unknown): value is KnownNotifierError {
  if (value instanceof NotifierError) return true;
  return value instanceof Error && KNOWN_NAMES.has(value.name);
}

const KNOWN_NAMES: ReadonlySet<string> = new Set<KnownNotifierError['name']>([
  'ChannelRefusedError',
  'ConnectionError',
  'InvalidArgumentError',
  'InvalidChannelError',
  'NotifierClosedError',
  'PayloadParseError',
  'PayloadTooLargeError',
  'QueueUsageWarning',
  'ReplayGapError',
  'StandbyError',
  'SubscriberError',
  'TransactionPoolerError',
  'UnknownChannelError',
  'UnknownSubscriberError',
]);
