import type postgres from 'postgres'

/** A postgres.js client or transaction. */
export type Sql = postgres.Sql<Record<string, never>>
export type TransactionSql = postgres.TransactionSql<Record<string, never>>

/**
 * Where the adapter connects: a URL (the adapter creates and later ends its own pool) or your own
 * postgres.js client (the adapter never ends it).
 */
export type PostgresConnection = { url: string; sql?: undefined } | { sql: Sql; url?: undefined }

export interface PostgresAdapterOptions {
  /**
   * The schema that holds every table, function and index of OqronKit. Lowercase letters, digits and
   * `_`, at most 48 characters (the NOTIFY channel is derived from it).
   * @default 'oqronkit'
   */
  schema?: string
  /**
   * Run pending migrations in `open()` (under an advisory lock, so nodes starting together migrate
   * once). With `false`, `open()` only checks that the schema is at the version this client knows;
   * run `migrate()` as a deploy step instead.
   * @default true
   */
  migrate?: boolean
  /**
   * Pool size of the client created from `url` (ignored with `sql`). The LISTEN connection is extra.
   * @default 10
   */
  max?: number
  /**
   * Use named prepared statements. Set `false` behind PgBouncer in transaction mode.
   * @default true
   */
  prepare?: boolean
  /**
   * First delay before re-LISTENing after the notification connection dropped; doubles per failed
   * attempt up to 30 s. Missed notifications are covered: every waiter wakes once after a re-listen.
   * @default 500
   */
  relistenDelayMs?: number
  /**
   * How long a statement of the adapter may go without an answer before the adapter asks the server, on a
   * connection of its own, whether the statement's backend is still at it. If it is (a slow statement, one
   * waiting for a lock) the statement is left alone and asked about again after as long; so it is when the
   * server refuses the question's connection (at its connection limit: it answers). If the backend is
   * gone or idle, or the server does not answer the question within `replyTimeoutMs`, the network path is
   * taken for dead and every connection of that pool is closed (they reconnect for the next statement). The
   * statement then fails like one cut by a dropped connection: a claim gives its jobs back, a settle is
   * checked and retried by the engine, a renewal is retried on the next heartbeat. This is what ends a
   * half-open connection (the server or the network gone without a reset: a failover, a dead host, a
   * dropped NAT entry), which otherwise holds each statement sent on it until TCP keepalive gives up,
   * minutes later. A dead path is declared within `replyTimeoutMs` plus the question's round trip when the
   * server can still be reached, within twice `replyTimeoutMs` when it cannot; keep twice this plus
   * `heartbeatMs` below `lockTtlMs`, so a renewal can still be retried in time. `0` turns it off. Only for
   * the adapter's own pools (`{ url }`): with `{ sql }`, your client's sockets are yours, and so are those of a
   * transaction you pass as `{ tx }` (its statements are not watched).
   * @default 10000
   */
  replyTimeoutMs?: number
}

export const postgresAdapterDefaults = {
  schema: 'oqronkit',
  migrate: true,
  max: 10,
  prepare: true,
  relistenDelayMs: 500,
  replyTimeoutMs: 10_000,
} as const satisfies Required<PostgresAdapterOptions>

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/

/** True if `schema` is a name this adapter accepts (see `PostgresAdapterOptions.schema`). */
export function isValidSchemaName(schema: string): boolean {
  return SCHEMA_NAME.test(schema)
}

/**
 * `fetch_types: false` on every client the adapter makes (its pools, its LISTEN connection, `migrate()`'s).
 * postgres.js otherwise reads the array types on each new connection with a query it starts from a socket
 * handler without handling its failure: when the server goes away during that query (a restart while
 * workers reconnect), the process dies of an unhandled `ECONNRESET` rejection (seen in the `pg_ctl restart`
 * crash test). No statement here returns an array (inputs go as JSON text, lists come back as jsonb), so
 * the array parsers are never needed. Internal (not exported from the package).
 */
export const NO_TYPE_FETCH = false
