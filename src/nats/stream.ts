import { jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/** The limits of the stream the relay creates when it is absent. */
export interface StreamLimits {
  /**
   * How long durable messages are kept, in milliseconds. A consumer away for longer misses what
   * expired.
   * @defaultValue 7 days
   */
  readonly maxAgeMs?: number;
  /**
   * How long the stream remembers a `Nats-Msg-Id`, in milliseconds: a relay that publishes a
   * message again within this window (after another relay died mid-publish) adds no copy. A
   * relay that resumes later than this after the last one stopped may publish duplicates.
   * @defaultValue 2 minutes
   */
  readonly duplicateWindowMs?: number;
}

/** The defaults of {@link StreamLimits}. */
export const DEFAULT_STREAM_LIMITS: Required<StreamLimits> = { maxAgeMs: 7 * 24 * 3600_000, duplicateWindowMs: 120_000 };

/**
 * Creates the stream `name` over `<prefix>.d.>` when it is absent; an existing stream is left as
 * it is (its limits may have been tuned). Safe to run concurrently from many relays.
 */
export async function ensureStream(nc: NatsConnection, name: string, prefix: string, limits: StreamLimits = {}): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(name);
    return jsm;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const { maxAgeMs, duplicateWindowMs } = { ...DEFAULT_STREAM_LIMITS, ...limits };
  try {
    await jsm.streams.add({
      name,
      subjects: [`${prefix}.d.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(maxAgeMs),
      duplicate_window: nanos(duplicateWindowMs),
    });
  } catch (error) {
    // Another relay created it between our look and our add.
    await jsm.streams.info(name).catch(() => {
      throw error;
    });
  }
  return jsm;
}

/** A JetStream "not found" (stream or consumer). */
export function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 404 || /not found/i.test(error.message));
}

/**
 * A JetStream stream name as the server takes it: not empty, at most 255 characters, and none of
 * `.`, `*`, `>`, whitespace, `/` or `\\` (NATS's rules for names that become subjects and files).
 *
 * @throws {@link InvalidArgumentError} otherwise, before anything is sent.
 */
export function validateStreamName(stream: unknown): string {
  if (typeof stream !== 'string' || stream === '' || stream.length > 255 || /[.*>\s/\\]/.test(stream))
    throw new InvalidArgumentError(
      `A stream name is 1–255 characters without '.', '*', '>', whitespace, '/' or '\\', got ${JSON.stringify(stream)}`,
    );
  return stream;
}

/**
 * Checks stream limits before anything is sent: each a positive number of milliseconds.
 *
 * @throws {@link InvalidArgumentError} otherwise.
 */
export function validateStreamLimits(limits: unknown): StreamLimits {
  if (limits === undefined) return {};
  if (typeof limits !== 'object' || limits === null)
    throw new InvalidArgumentError('streamLimits must be an object: { maxAgeMs, duplicateWindowMs }');
  for (const name of ['maxAgeMs', 'duplicateWindowMs'] as const) {
    const value = (limits as StreamLimits)[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0))
      throw new InvalidArgumentError(`streamLimits.${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return limits;
}
