import type { NotifierError } from '../errors/notifier-error.js';
import { ConnectionError } from '../errors/connection-error.js';
import type { DurableSource } from '../source/durable-source.js';
import type { SubscriberId } from '../types.js';

/** One durable reader of a notifier, as `status().durable` shows it. */
export interface DurableReaderStatus {
  /** `'subscriber'` (a durable `subscribe`) or `'observer'` (a durable `channel$` observer). */
  readonly kind: 'subscriber' | 'observer';
  /** The subscriber id; absent for an observer. */
  readonly id?: SubscriberId;
  /** The durable channel. */
  readonly channel: string;
  /** Its position: the cursor right after the last message it handled (or its start); absent until known. */
  readonly cursor?: string;
  /**
   * How many committed messages of the channel lie after its position, as measured by the
   * previous `status()` call (each call starts a new measurement); absent until measured.
   */
  readonly behind?: number;
  /** Messages delivered to it by this notifier. */
  readonly delivered: number;
}

/** A reader's live entry: what `status()` copies. */
export interface DurableReaderEntry {
  readonly kind: 'subscriber' | 'observer';
  readonly id?: SubscriberId;
  readonly channel: string;
  /** The durable consumer name of a subscriber. */
  readonly consumer?: string;
  cursor?: string;
  behind?: number;
  delivered: number;
}

/**
 * The durable readers of one notifier, for `status()`: their positions, and how far behind they
 * are, measured in the background (a count is a query, and `status()` is synchronous).
 */
export class DurableReaders {
  readonly #entries = new Set<DurableReaderEntry>();
  #measuring: Promise<void> | undefined;
  /** Counts `clear()` calls: a measurement that fails after one was cut short by close(), not a fault to report. */
  #cleared = 0;

  /** Adds a reader; the returned entry is updated in place, and removed with {@link DurableReaders.delete}. */
  add(entry: DurableReaderEntry): DurableReaderEntry {
    this.#entries.add(entry);
    return entry;
  }

  /** Removes a reader. */
  delete(entry: DurableReaderEntry): void {
    this.#entries.delete(entry);
  }

  /** Removes every reader (on close). */
  clear(): void {
    this.#entries.clear();
    this.#cleared++;
  }

  /**
   * The readers as they stand, and a new measurement of how far behind each is (unless one is
   * still running); failures of the measurement go to `report`, unless the readers were cleared
   * meanwhile (the notifier closed under it).
   */
  snapshot(source: DurableSource | undefined, report: (error: NotifierError) => void): DurableReaderStatus[] {
    if (source !== undefined && this.#measuring === undefined && this.#entries.size > 0) {
      const cleared = this.#cleared;
      this.#measuring = this.#measure(source)
        .catch((error: unknown) => {
          if (cleared !== this.#cleared) return;
          report(new ConnectionError('Measuring the durable readers’ lag failed', { cause: error, explain: true }));
        })
        .finally(() => (this.#measuring = undefined));
    }
    return [...this.#entries].map(({ kind, id, channel, cursor, behind, delivered }) => ({
      kind,
      ...(id === undefined ? {} : { id }),
      channel,
      ...(cursor === undefined ? {} : { cursor }),
      ...(behind === undefined ? {} : { behind }),
      delivered,
    }));
  }

  async #measure(source: DurableSource): Promise<void> {
    const behind = source.behind?.bind(source);
    if (behind === undefined) return;
    for (const entry of [...this.#entries]) {
      if (entry.cursor === undefined && entry.consumer !== undefined && source.position !== undefined) {
        entry.cursor = await source.position(entry.consumer, entry.channel);
      }
      if (entry.cursor !== undefined) entry.behind = await behind(entry.channel, entry.cursor);
    }
  }
}
