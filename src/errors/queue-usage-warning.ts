import { NotifierError } from './notifier-error.js';

/**
 * Reported on `errors$` once each time the server's notification queue fills past half
 * (`pg_notification_queue_usage()` > 0.5). When the queue is full, every NOTIFY on the server
 * fails. The queue is held back by the oldest reader: a listening session that does not read
 * (a stuck process, a LISTEN left in an idle connection of a pool), or a long-running
 * transaction, which keeps the notifications sent after it started.
 */
export class QueueUsageWarning extends NotifierError {
  /** `'QueueUsageWarning'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'QueueUsageWarning' as const;
  /** The fraction of the queue in use, from 0 to 1. */
  readonly usage: number;

  constructor(usage: number) {
    super(
      `The server's notification queue is ${(usage * 100).toFixed(1)} % full: a listening session that does not read ` +
        '(a stuck process, a LISTEN left on a pooled connection) or a long transaction holds it back; ' +
        'when it is full every NOTIFY fails (see pg_stat_activity for the oldest xact_start)',
    );
    this.usage = usage;
  }
}
