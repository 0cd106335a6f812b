import { createHash } from 'node:crypto';

import pg from 'pg';

import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { describeValue } from './describe-value.js';

/** The schema durable channels live in unless told otherwise. */
export const DEFAULT_DURABLE_SCHEMA = 'pgnotifier';

/**
 * Every wake-up channel starts with this prefix. It is reserved: a plain `channel$` or `notify`
 * on a name that starts with it would hear or fake durable wake-ups, so the notifier refuses such
 * names for plain use.
 */
export const DURABLE_WAKE_PREFIX = 'pgnotifier:';

// The first key of every advisory lock we take ('pgno' in ASCII), the second is the schema's hash:
// two schemas never wait for each other, and other applications' locks on one key are unaffected.
const LOCK_CLASS = 0x70676e6f;
/** The advisory lock key pair (as SQL) that serialises installs of one schema. */
const INSTALL_LOCK = 1;
/** The advisory lock key pair (as SQL) that makes pruning one-at-a-time across processes. */
const PRUNE_LOCK = 2;

/**
 * How many ids one row of `messages` spans: a row holds one message or a packed slice of a batch
 * of up to this many, and message ids are the row's id plus the position in the row. Rows' ids are
 * this far apart, so a reader finds the row of any message id within this distance below it.
 */
export const ROW_IDS = 1000;
/** Payloads of a batch are packed into shared rows when none is larger than this many bytes. */
export const PACKED_BYTES = 8000;
/** How long installing over an earlier version's table waits for its lock, in milliseconds. */
const UPGRADE_LOCK_TIMEOUT_MS = 5000;
/** At most how many payload bytes a packed row holds: a row of a batch takes `ROW_BYTES / largest payload` of them, at most `ROW_IDS`. */
export const ROW_BYTES = 65536;

/**
 * Checks a schema name for the durable tables and returns it unchanged.
 *
 * @throws {@link InvalidArgumentError} when it is not a non-empty string of at most 63 UTF-8
 * bytes, contains NUL, or starts with `pg_` (reserved by PostgreSQL).
 */
export function validateSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || schema.length === 0) {
    throw new InvalidArgumentError(`The durable schema name must be a non-empty string, got ${describeValue(schema)}`);
  }
  if (schema.includes('\0')) throw new InvalidArgumentError('The durable schema name must not contain a NUL character');
  if (Buffer.byteLength(schema, 'utf8') > 63) {
    throw new InvalidArgumentError(
      `The durable schema name ${JSON.stringify(schema)} is longer than 63 UTF-8 bytes; PostgreSQL would truncate it`,
    );
  }
  if (schema.toLowerCase().startsWith('pg_')) {
    throw new InvalidArgumentError(`The durable schema name ${JSON.stringify(schema)} starts with pg_, which PostgreSQL reserves`);
  }
  return schema;
}

/**
 * The channel the durable messages of `schema` are announced on: {@link DURABLE_WAKE_PREFIX} and
 * the schema name (its MD5 when the whole would exceed PostgreSQL's 63 bytes). The payload of
 * each wake-up is the durable channel's name.
 */
export function durableWakeChannel(schema: string = DEFAULT_DURABLE_SCHEMA): string {
  validateSchemaName(schema);
  const plain = DURABLE_WAKE_PREFIX + schema;
  return Buffer.byteLength(plain, 'utf8') <= 63 ? plain : DURABLE_WAKE_PREFIX + createHash('md5').update(schema).digest('hex');
}

/** `"schema"`, quoted for SQL. */
export function quotedSchema(schema: string): string {
  return pg.escapeIdentifier(validateSchemaName(schema));
}

/** The SQL expression of an advisory lock key pair of this schema (for the install or the pruning). */
export function lockKeys(schema: string, which: 'install' | 'prune'): string {
  const n = which === 'install' ? INSTALL_LOCK : PRUNE_LOCK;
  return `${LOCK_CLASS}, hashtext(${pg.escapeLiteral(`${n}:${schema}`)})`;
}

/**
 * The DDL of durable channels in `schema` (PostgreSQL 13 or later: `xid8`, `pg_current_snapshot`),
 * for your own migration tool. It is idempotent and safe to run from many processes at once: it
 * takes a transaction-scoped advisory lock first, so run it as one query (several statements sent
 * at once are one transaction) or inside your migration's transaction. It creates:
 *
 * - `messages`: one row per `publish` (`single_payload`, text of any size), or per slice of up
 *   to 1,000 payloads (at most 64 kB) of a `publish_many` whose payloads are all at most 8000
 *   bytes (`packed_payloads`; a batch with a larger one is stored a row per message), with `n`
 *   its number of messages, `id` (bigint identity, rows 1,000 apart; a message's id is its
 *   row's plus its index in the row), `channel`, `pid` (the publishing backend), `xid` (the
 *   publishing transaction, `pg_current_xact_id()`), `created_at`;
 * - `positions`: the stored position of each durable consumer, keyed by (consumer, channel);
 * - `prune_state`: one row, how far retention has deleted (`through`: the newest xid deleted);
 * - `publish(channel text, payload text) returns bigint`: stores a message and announces it with
 *   a wake-up NOTIFY on {@link durableWakeChannel} (payload: the channel; identical wake-ups of one
 *   transaction fold into one). It raises (SQLSTATE 22023) for a channel name starting with the
 *   reserved {@link DURABLE_WAKE_PREFIX}. It works from triggers:
 *   `PERFORM pgnotifier.publish('orders', row_to_json(NEW)::text)`;
 * - `publish_many(channel text, payloads text[]) returns bigint[]`: the same for a batch, in one
 *   statement and one wake-up, the ids in payload order.
 *
 * Write messages only through these two functions: readers rely on a row holding at most
 * 1,000 messages. No CHECK constraint says so, because any constraint on `messages`
 * made each `publish()` statement cost a third more (measured: 10,000 calls took 135-158 ms with
 * `CHECK (n BETWEEN 1 AND 1000)` against 105-113 ms without).
 *
 * `channel` compares bytewise (`COLLATE "C"`): channels are only ever matched for equality, and
 * each insert descends two `(channel, …)` indexes comparing it with other channels' names, which
 * under a linguistic collation costs a `strcoll` each (measured: 5-12 % of the insert's CPU). A
 * table made by an earlier version keeps its collation (both work).
 *
 * Why packed rows: a row costs a heap tuple, its WAL and an entry in each of three indexes, which
 * one at a time made a durable message cost the server 8-10 times a NOTIFY; a batch now pays that
 * per 1,000 messages.
 *
 * Why these indexes: a reader's batch is the rows of one channel whose `xid` is visible in its new
 * snapshot and not in its old one, so `(channel, xid) INCLUDE (id)` finds a batch's id range by
 * scanning only the xids between the old snapshot's xmin and the new one's xmax (index only);
 * `(channel, id) INCLUDE (xid)` then reads the batch page by page in id order, each page a short
 * range scan that filters on visibility without sorting; `(xid)` lets pruning delete by xid.
 *
 * @throws {@link InvalidArgumentError} for an invalid schema name.
 */
export function durableSchemaSql(schema: string = DEFAULT_DURABLE_SCHEMA): string {
  const s = quotedSchema(schema);
  const wake = pg.escapeLiteral(durableWakeChannel(schema));
  // The quote of function bodies: one the schema name (quoted inside them) does not contain.
  let tag = '$pgnotifier$';
  for (let i = 1; schema.includes(tag); i++) tag = `$pgnotifier_${i}$`;
  return `-- pgnotifier durable channels (PostgreSQL 13+), schema ${s}
SELECT pg_advisory_xact_lock(${lockKeys(schema, 'install')});
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.messages (
  id bigint GENERATED ALWAYS AS IDENTITY (INCREMENT BY ${ROW_IDS}),
  channel text COLLATE "C" NOT NULL CHECK (channel <> '' AND octet_length(channel) <= 63),
  single_payload text,
  packed_payloads text[],
  n integer NOT NULL DEFAULT 1,
  pid integer NOT NULL DEFAULT pg_backend_pid(),
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- A table made before packed rows: its rows are all single messages (n = 1), and new rows take ids
-- ${ROW_IDS} apart from its last one on. Checked first, so a later install locks nothing. The
-- payload column is renamed so that a reader of that version, which would take a packed row for one
-- message with no payload, fails loudly (and keeps its position) instead.
DO ${tag}
DECLARE
  waited text := current_setting('lock_timeout');
BEGIN
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = ${pg.escapeLiteral(`${s}.messages`)}::regclass AND attname = 'packed_payloads' AND NOT attisdropped) THEN
    -- The ALTERs wait for every transaction that touched the table, and every later query waits
    -- behind them: give up after a while rather than stall all readers and publishers.
    PERFORM set_config('lock_timeout', '${UPGRADE_LOCK_TIMEOUT_MS}ms', true);
    ALTER TABLE ${s}.messages RENAME COLUMN payload TO single_payload;
    ALTER TABLE ${s}.messages ALTER COLUMN single_payload DROP NOT NULL, ADD COLUMN packed_payloads text[], ADD COLUMN n integer NOT NULL DEFAULT 1,
      ALTER COLUMN id SET INCREMENT BY ${ROW_IDS};
    PERFORM set_config('lock_timeout', waited, true);
  END IF;
EXCEPTION WHEN lock_not_available THEN
  RAISE EXCEPTION 'Upgrading %.messages to this version of pgnotifier needs the table to itself, and a transaction using it did not end within ${UPGRADE_LOCK_TIMEOUT_MS / 1000} s', ${pg.escapeLiteral(s)}
    USING ERRCODE = 'lock_not_available', HINT = 'Run install() again when no long transaction publishes or reads durable channels (see pg_stat_activity).';
END ${tag};
CREATE UNIQUE INDEX IF NOT EXISTS messages_channel_id ON ${s}.messages (channel, id) INCLUDE (xid);
CREATE INDEX IF NOT EXISTS messages_channel_xid ON ${s}.messages (channel, xid) INCLUDE (id);
CREATE INDEX IF NOT EXISTS messages_xid ON ${s}.messages (xid);
CREATE TABLE IF NOT EXISTS ${s}.positions (
  consumer text NOT NULL,
  channel text NOT NULL,
  since pg_snapshot NOT NULL,
  upto pg_snapshot NOT NULL,
  last_id bigint NOT NULL DEFAULT 0,
  lost bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, channel)
);
CREATE TABLE IF NOT EXISTS ${s}.prune_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  through xid8 NOT NULL DEFAULT '0',
  pruned bigint NOT NULL DEFAULT 0,
  pruned_at timestamptz
);
INSERT INTO ${s}.prune_state DEFAULT VALUES ON CONFLICT DO NOTHING;
-- Raises for a reserved wake-up channel name: called only for such a name, so publish stays SQL.
CREATE OR REPLACE FUNCTION ${s}.refuse_reserved_channel(channel text) RETURNS void
LANGUAGE plpgsql VOLATILE AS ${tag} BEGIN
  RAISE EXCEPTION 'Invalid channel name %: names starting with "pgnotifier:" are reserved for durable wake-ups', to_json(channel)
    USING ERRCODE = 'invalid_parameter_value';
END ${tag};
-- SQL rather than PL/pgSQL: measured 25 % faster per message. The wake-up is queued before the
-- insert, but both take effect only at commit.
CREATE OR REPLACE FUNCTION ${s}.publish(channel text, payload text) RETURNS bigint
LANGUAGE sql VOLATILE AS ${tag}
  SELECT ${s}.refuse_reserved_channel(publish.channel) WHERE starts_with(publish.channel, ${pg.escapeLiteral(DURABLE_WAKE_PREFIX)});
  SELECT pg_notify(${wake}, publish.channel);
  INSERT INTO ${s}.messages (channel, single_payload) VALUES (publish.channel, coalesce(publish.payload, '')) RETURNING id;
${tag};
-- One statement and one wake-up for the whole array (none for an empty one). Payloads of at most
-- ${PACKED_BYTES} bytes are packed into rows of up to ${ROW_IDS}, at most ${ROW_BYTES} bytes each (as many as its
-- largest payload allows), so a batch pays a heap tuple and three index entries per row, not per message; ids
-- are the row's id plus the position in the row, in payload order. A batch holding a larger payload
-- is stored a row per message: a reader unpacks a whole row for any message of it, so packed rows
-- hold small payloads only. PL/pgSQL: it runs once per batch.
CREATE OR REPLACE FUNCTION ${s}.publish_many(channel text, payloads text[]) RETURNS bigint[]
LANGUAGE plpgsql VOLATILE AS ${tag}
DECLARE
  total integer := coalesce(cardinality(publish_many.payloads), 0);
  largest integer;
  per_row integer;
  ids bigint[];
BEGIN
  IF starts_with(publish_many.channel, ${pg.escapeLiteral(DURABLE_WAKE_PREFIX)}) THEN PERFORM ${s}.refuse_reserved_channel(publish_many.channel); END IF;
  IF total = 0 THEN RETURN '{}'; END IF;
  PERFORM pg_notify(${wake}, publish_many.channel);
  SELECT max(octet_length(p)) INTO largest FROM unnest(publish_many.payloads) AS p;
  IF coalesce(largest, 0) <= ${PACKED_BYTES} THEN
    per_row := least(${ROW_IDS}, greatest(1, ${ROW_BYTES} / greatest(largest, 1)));
    -- One pass over the array: slicing it per row would copy all of it for each row.
    WITH inserted AS (
      INSERT INTO ${s}.messages (channel, packed_payloads, n)
      SELECT publish_many.channel, array_agg(coalesce(u.p, '') ORDER BY u.k), count(*)
        FROM unnest(publish_many.payloads) WITH ORDINALITY AS u (p, k)
       GROUP BY (u.k - 1) / per_row ORDER BY (u.k - 1) / per_row
      RETURNING id, n
    )
    -- A set-returning function in the select list expands each row in place: ids in row order, no sort of all ids.
    SELECT ARRAY(SELECT generate_series(r.id, r.id + r.n - 1) FROM inserted AS r ORDER BY r.id) INTO ids;
  ELSE
    WITH inserted AS (
      INSERT INTO ${s}.messages (channel, single_payload)
      SELECT publish_many.channel, coalesce(u.p, '') FROM unnest(publish_many.payloads) WITH ORDINALITY AS u (p, k) ORDER BY u.k
      RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO ids FROM inserted;
  END IF;
  RETURN ids;
END ${tag};
CREATE OR REPLACE FUNCTION ${s}.xid8_after(x xid8) RETURNS xid8
LANGUAGE sql IMMUTABLE AS ${tag} SELECT (x::text::numeric + 1)::text::xid8 ${tag};
CREATE OR REPLACE FUNCTION ${s}.snapshot_through(snap pg_snapshot, through xid8) RETURNS pg_snapshot
LANGUAGE sql IMMUTABLE AS ${tag}
  SELECT format('%s:%s:%s', greatest(pg_snapshot_xmin(snap), ${s}.xid8_after(through)), greatest(pg_snapshot_xmax(snap), ${s}.xid8_after(through)),
    coalesce((SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(snap) AS x WHERE x > through), ''))::pg_snapshot
${tag};
COMMENT ON FUNCTION ${s}.snapshot_through(pg_snapshot, xid8) IS 'pgnotifier: the snapshot with every xid up to through made visible (retention deleted them)';
`;
}
