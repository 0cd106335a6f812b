/** The help text, printed by `--help` and after a usage error. */
export const USAGE = `Usage:
  pgnotifier listen <channel...> [--pretty] [--url <url>]
  pgnotifier notify <channel> <payload> [--url <url>]
  pgnotifier relay --nats <url> [--durable <channel>]... <channel...> [--url <url>]
  pgnotifier install [--schema <schema>] [--url <url>]

Commands:
  listen   Print every notification on the channels, one JSON line each, until
           Ctrl-C or SIGTERM: {"channel","payload","pid","receivedAt"}. A payload
           that is JSON appears exactly as sent (big numbers intact); any other
           payload appears as a JSON string of its text.
  notify   Send one notification. The payload is sent exactly as given, JSON or
           not; listeners using pgnotifier's default parser get a JSON value
           when it parses as JSON, otherwise the text.
  relay    Relay the channels to NATS for consumers using NatsSource
           (pgnotifier/nats); run two or more: one leads, the others stand by.
  install  Create the durable channels' tables and functions (in --schema,
           default pgnotifier) where missing; safe to run again or at once.

Relay options:
  --nats <url>       NATS server(s), comma-separated. Default: $NATS_URL.
  --durable <ch>     A durable channel, from the PostgreSQL outbox to JetStream
                     (repeatable).
  --schema <name>    The outbox schema of durable channels. Default: pgnotifier.
  --prefix <p>       Subject prefix. Default: pgnotifier.
  --stream <name>    JetStream stream. Default: PGNOTIFIER.

Options:
  --url <url>   Connection string. Default: $DATABASE_URL, else pg's PG* variables
                (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
  --pretty      listen: a readable line per notification instead of JSON
                (long payloads are cut, saying so).
  -h, --help    This help.
  -v, --version The version.

Connection state goes to stderr; notifications to stdout. Exit codes: 0 done,
1 the server could not be reached or refused, 2 bad arguments.`;

/** The usage line printed after a usage error of a command that has none of its own. */
export const SHORT_USAGE =
  'pgnotifier listen <channel...> | pgnotifier notify <channel> <payload> | pgnotifier relay --nats <url> <channel...>';

/** A bad command line: printed as one line with a hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    /** The usage line of the command that was misused (default: {@link SHORT_USAGE}). */
    readonly usage: string = SHORT_USAGE,
  ) {
    super(message);
  }
}
