/** What a source knows about the server session it listens on; `status().server` reports it. */
export interface ServerStatus {
  /** The process id of the listening backend (for `pg_stat_activity`, `pg_terminate_backend`). */
  readonly pid?: number;
  /**
   * The fraction of the server's notification queue in use, 0 to 1
   * (`pg_notification_queue_usage()`), as of the last heartbeat. Above 0.5 a `QueueUsageWarning`
   * goes to `errors$`.
   */
  readonly queueUsage?: number;
}
