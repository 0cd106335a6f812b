/**
 * Turns off, for the current session only, the server settings that end sessions or statements
 * on a clock: `idle_session_timeout` (PostgreSQL 14+; notifications arriving do not reset it, so a
 * listening session that receives but sends nothing would be killed), `statement_timeout`,
 * `idle_in_transaction_session_timeout` and `transaction_timeout` (17+), which managed services
 * often set on a role or database. Each is set in its own block, so a server that does not know a
 * setting skips just that one.
 *
 * Sent as a query after connecting rather than as startup `options` (`-c name=value`): PgBouncer
 * refuses the `options` startup parameter unless configured to ignore it, and PostgreSQL before
 * 14 refuses the whole connection for an unknown setting there.
 */
export const SESSION_SETTINGS_SQL = `DO $pgnotifier$
BEGIN
  ${['idle_session_timeout', 'statement_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout']
    .map((name) => `BEGIN PERFORM pg_catalog.set_config('${name}', '0', false); EXCEPTION WHEN undefined_object THEN NULL; END;`)
    .join('\n  ')}
END
$pgnotifier$`;
