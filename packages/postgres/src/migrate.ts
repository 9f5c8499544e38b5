import { AdapterError, OqronConfigError } from '@oqronkit/core'
import postgres from 'postgres'
import { SchemaVersionError } from './errors.js'
import m000001 from './migrations/000001.sql'
import m000002 from './migrations/000002.sql'
import m000003 from './migrations/000003.sql'
import m000004 from './migrations/000004.sql'
import m000005 from './migrations/000005.sql'
import {
  isValidSchemaName,
  NO_TYPE_FETCH,
  type PostgresConnection,
  postgresAdapterDefaults,
  type Sql,
  type TransactionSql,
} from './options.js'
import { quoteIdent } from './render.js'
import { missingRoutines } from './routines.js'

/** Numbered, append-only migrations, inlined at build. A new one is appended here and never edited. */
export const MIGRATIONS: readonly { id: number; name: string; sql: string }[] = [
  { id: 1, name: '000001.sql', sql: m000001 },
  { id: 2, name: '000002.sql', sql: m000002 },
  { id: 3, name: '000003.sql', sql: m000003 },
  { id: 4, name: '000004.sql', sql: m000004 },
  { id: 5, name: '000005.sql', sql: m000005 },
]

/** The newest migration this client ships. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.id

export function checkSchemaName(schema: string): void {
  if (!isValidSchemaName(schema)) {
    throw new OqronConfigError(
      `Invalid PostgreSQL schema name "${schema}": use lowercase letters, digits and _ (at most 48 characters, not starting with a digit).`,
      { field: 'schema' },
    )
  }
}

/**
 * Bring `schema` up to SCHEMA_VERSION in one transaction. A transaction-scoped advisory lock keyed by
 * the schema name serialises concurrent callers: the second one waits, then finds the ledger complete
 * and does nothing. A ledger newer than this client throws SchemaVersionError and changes nothing.
 * Then creates this client's routines the schema lacks (routines.ts), under the same lock. Returns the ids of
 * the migrations this call applied and the names of the routines it created.
 */
export async function runMigrations(
  sql: Sql,
  schema: string,
): Promise<{ applied: number[]; routines: string[] }> {
  checkSchemaName(schema)
  const q = quoteIdent(schema)
  try {
    return await sql.begin(async (tx) => {
      await tx.unsafe('select pg_advisory_xact_lock(hashtextextended($1::text, 0))', [
        `oqronkit.migrate:${schema}`,
      ])
      // Nothing pending: done before any DDL. `create schema if not exists` needs CREATE on the database even
      // when the schema exists, which an application role (the deploy step migrated as the owner) lacks.
      const [ledger] = await tx
        .unsafe('select to_regclass($1::text) is not null', [`${q}.migrations`])
        .values()
      if (ledger![0]) {
        const [row] = await tx.unsafe(`select coalesce(max(id), 0)::int from ${q}.migrations`).values()
        const version = row![0] as number
        if (version > SCHEMA_VERSION) throw new SchemaVersionError(schema, version, SCHEMA_VERSION)
        if (version === SCHEMA_VERSION) return { applied: [], routines: await installRoutines(tx, schema) }
      }
      await tx.unsafe(`create schema if not exists ${q}`)
      await tx.unsafe(
        `create table if not exists ${q}.migrations (
           id integer primary key,
           name text not null,
           applied_at timestamptz not null default now()
         )`,
      )
      const [row] = await tx.unsafe(`select coalesce(max(id), 0)::int from ${q}.migrations`).values()
      const current = row![0] as number
      if (current > SCHEMA_VERSION) throw new SchemaVersionError(schema, current, SCHEMA_VERSION)
      const applied: number[] = []
      for (const m of MIGRATIONS) {
        if (m.id <= current) continue
        await tx.unsafe(m.sql.replaceAll('{{schema}}', q))
        await tx.unsafe(`insert into ${q}.migrations (id, name) values ($1::int, $2::text)`, [m.id, m.name])
        applied.push(m.id)
      }
      return { applied, routines: await installRoutines(tx, schema) }
    })
  } catch (err) {
    if (err instanceof SchemaVersionError) throw err
    throw new AdapterError(`Migrating PostgreSQL schema "${schema}" failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/**
 * Creates this client's routines that `schema` lacks (none when it has them: no DDL, no privilege needed).
 * Returns their names.
 */
async function installRoutines(tx: TransactionSql, schema: string): Promise<string[]> {
  const missing = await missingRoutines(tx, schema)
  for (const routine of missing) await tx.unsafe(routine.create)
  return missing.map((r) => r.name)
}

/** The newest migration recorded in `schema` (0 if it was never migrated). Reads only. */
export async function schemaVersion(sql: Sql, schema: string): Promise<number> {
  const q = quoteIdent(schema)
  try {
    const [exists] = await sql
      .unsafe('select to_regclass($1::text) is not null', [`${q}.migrations`])
      .values()
    if (!exists![0]) return 0
    const [row] = await sql.unsafe(`select coalesce(max(id), 0)::int from ${q}.migrations`).values()
    return row![0] as number
  } catch (err) {
    throw new AdapterError(`Reading the schema version of "${schema}" failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/** This client's routines that `schema` lacks, by name. Reads only. */
async function lackedRoutines(sql: Sql, schema: string): Promise<string[]> {
  try {
    return (await missingRoutines(sql, schema)).map((r) => r.name)
  } catch (err) {
    throw new AdapterError(`Reading the routines of "${schema}" failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/** Throws SchemaVersionError unless `schema` is exactly at SCHEMA_VERSION and holds this client's routines. */
export async function assertSchemaVersion(sql: Sql, schema: string): Promise<void> {
  const version = await schemaVersion(sql, schema)
  if (version !== SCHEMA_VERSION) throw new SchemaVersionError(schema, version, SCHEMA_VERSION)
  const lacked = await lackedRoutines(sql, schema)
  if (lacked.length > 0) throw new SchemaVersionError(schema, version, SCHEMA_VERSION, lacked)
}

export type MigrateOptions = PostgresConnection & {
  /** @default 'oqronkit' */
  schema?: string
}

/**
 * Run pending migrations as a deploy step: `await migrate({ url: process.env.DATABASE_URL })` (or the
 * `oqronkit migrate` command), and create this client's routines the schema lacks. Safe to run from several
 * nodes at once. Ends the connection it created; never ends a given `sql`.
 */
export function migrate(
  options: MigrateOptions,
): Promise<{ applied: number[]; routines: string[]; version: number }> {
  return withSchema(options, async (sql, schema) => ({
    ...(await runMigrations(sql, schema)),
    version: SCHEMA_VERSION,
  }))
}

/**
 * Where the schema stands, changing nothing: the newest migration in its ledger (0: never migrated), this
 * client's routines it lacks (see routines.ts; a schema another version migrated lacks them), and whether it
 * is current: at this client's SCHEMA_VERSION, lacking nothing. For a deploy gate (`oqronkit migrate --check`).
 */
export function schemaStatus(
  options: MigrateOptions,
): Promise<{ version: number; current: boolean; lackedRoutines: string[] }> {
  return withSchema(options, async (sql, schema) => {
    const version = await schemaVersion(sql, schema)
    const lacked = version === SCHEMA_VERSION ? await lackedRoutines(sql, schema) : []
    return { version, current: version === SCHEMA_VERSION && lacked.length === 0, lackedRoutines: lacked }
  })
}

/** `work` on the checked schema name and the given client, or one made for it from `url` and ended after. */
async function withSchema<T>(
  options: MigrateOptions,
  work: (sql: Sql, schema: string) => Promise<T>,
): Promise<T> {
  const schema = options.schema ?? postgresAdapterDefaults.schema
  checkSchemaName(schema)
  const sql: Sql =
    options.sql ??
    postgres(requireUrl(options.url), { max: 1, onnotice: () => {}, fetch_types: NO_TYPE_FETCH })
  try {
    return await work(sql, schema)
  } finally {
    if (!options.sql) await sql.end({ timeout: 5 })
  }
}

export function requireUrl(url: string | undefined): string {
  if (typeof url !== 'string' || url.length === 0) {
    throw new OqronConfigError(
      'postgresAdapter needs { url } (a postgres:// connection string) or { sql } (a postgres.js client).',
      { field: 'url' },
    )
  }
  return url
}
