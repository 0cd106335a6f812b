/** How the listening connection retries. */
export interface ReconnectOptions {
  /**
   * The delay before the first retry, in milliseconds; each later retry doubles it, up to
   * `maxDelayMs`. Each delay is jittered to between half and all of its value, so a fleet of
   * services does not reconnect in lockstep.
   * @defaultValue 100
   */
  readonly initialDelayMs?: number;
  /**
   * The longest delay between two attempts, in milliseconds. Retries never stop: an outage of
   * any length ends with the notifier listening again within this long of the server's return.
   * @defaultValue 10000
   */
  readonly maxDelayMs?: number;
}

/** {@link ReconnectOptions} with every default filled in. */
export type ResolvedReconnectOptions = Required<ReconnectOptions>;

export const defaultReconnectOptions: ResolvedReconnectOptions = { initialDelayMs: 100, maxDelayMs: 10_000 };

/**
 * The delay before retry number `retry` (1 for the first): exponential, capped, with jitter.
 *
 * @param random - a source of numbers in [0, 1), for tests.
 */
export function backoffDelay(retry: number, options: ResolvedReconnectOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(retry - 1, 0), 30);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
