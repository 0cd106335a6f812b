import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { SubscriberId } from '../types.js';

/**
 * The key a subscriber id is stored under: its JSON text, so ids compare by value (`['a', 1]`
 * equals another `['a', 1]`) and `1` stays apart from `'1'`.
 *
 * @throws {@link InvalidArgumentError} when `id` is not a string, a finite number, or an array of
 * those.
 */
export function subscriberKey(id: unknown): string {
  assertSubscriberId(id, 0);
  return JSON.stringify(id);
}

/** A fresh copy of the id stored under `key` (views never hand out our own arrays). */
export function subscriberIdOf(key: string): SubscriberId {
  return JSON.parse(key) as SubscriberId;
}

function assertSubscriberId(id: unknown, depth: number): asserts id is SubscriberId {
  if (typeof id === 'string') return;
  if (typeof id === 'number') {
    if (Number.isFinite(id)) return;
    throw new InvalidArgumentError(`A subscriber id number must be finite, got ${String(id)}`);
  }
  if (Array.isArray(id) && depth < 32) {
    for (const part of id as unknown[]) assertSubscriberId(part, depth + 1);
    return;
  }
  throw new InvalidArgumentError(
    `A subscriber id must be a string, a finite number or an array of those, got ${id === null ? 'null' : typeof id}`,
  );
}
