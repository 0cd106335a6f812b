/** The part a relay plays now. */
export type RelayRole = 'starting' | 'follower' | 'leader' | 'closed';

/** A value of `Relay.state$`. */
export interface RelayState {
  /**
   * - `starting`: connecting to PostgreSQL for the lock (and retrying), trying the lock and, when
   *   it gets it, starting to lead;
   * - `follower`: holds a lock connection and waits: another relay holds the lock, or NATS is down;
   * - `leader`: holds the lock, LISTENs and publishes plain channels;
   * - `closed`: `close()` was called.
   */
  readonly role: RelayRole;
  /** Why the last attempt failed or the last term ended, when it did. */
  readonly error?: Error;
}

/** What `Relay.status()` reports: a fresh, JSON-serialisable snapshot. */
export interface RelayStatus {
  /** This relay's id. */
  readonly id: string;
  /** Its part now. */
  readonly role: RelayRole;
  /** The leader as last known here (itself while leading); `undefined` before any was seen. */
  readonly leader:
    | {
        /** The leading relay's id. */
        readonly relay: string;
        /** When it took the lead (ISO 8601). */
        readonly since: string;
      }
    | undefined;
  /** Times this relay took the lead. */
  readonly terms: number;
  /** Plain notifications received from PostgreSQL and published to NATS while leading. */
  readonly plain: {
    /** Notifications received from PostgreSQL. */
    readonly received: number;
    /** Notifications published to NATS. */
    readonly published: number;
  };
  /**
   * Durable messages taken from the outbox, published to JetStream, and of those the ones the
   * stream already had (another relay published them within the duplicate window); `lag` is how
   * many taken messages still wait for JetStream's acknowledgement.
   */
  readonly durable: {
    /** Messages taken from the outbox. */
    readonly taken: number;
    /** Messages the stream stored. */
    readonly published: number;
    /** Messages the stream already had (dropped by its duplicate window). */
    readonly duplicates: number;
    /** Messages taken and not yet acknowledged by JetStream. */
    readonly lag: number;
  };
  /** The last problem met, if any. */
  readonly lastError: string | undefined;
}
