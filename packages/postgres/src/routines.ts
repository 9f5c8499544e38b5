import { createHash } from 'node:crypto'
import type { Sql, TransactionSql } from './options.js'
import { quoteIdent, render } from './render.js'
import { CLAIM_ROUTINE } from './sql/jobs.js'

/**
 * A statement kept in the database as a function, named after a hash of its text as Redis keeps a script
 * by its SHA: each version of the adapter brings its own, so nodes of two versions on one schema (a rolling
 * deploy) each call theirs, and one name never stands for two texts. runMigrations installs the missing ones
 * under the migration lock (`init()` and `migrate()` both); they are not migrations and not in the ledger.
 */
export interface Routine {
  /** The function's name in its schema. */
  name: string
  /** Schema and name, quoted, as calls write it. */
  qualified: string
  /** The `create function` statement. */
  create: string
}

function routine(prefix: string, text: string, schema: string): Routine {
  const rendered = render(text, schema)
  const name = `${prefix}_${createHash('sha256').update(rendered).digest('hex').slice(0, 16)}`
  return { name, qualified: `${quoteIdent(schema)}.${name}`, create: rendered.replace('{{routine}}', name) }
}

/** The claim (CLAIM_ROUTINE) on `schema`. */
export function claimRoutine(schema: string): Routine {
  return routine('claim', CLAIM_ROUTINE, schema)
}

/** The routines of this client on `schema`. */
export function routines(schema: string): Routine[] {
  return [claimRoutine(schema)]
}

/** This client's routines that `schema` lacks. Reads only. */
export async function missingRoutines(db: Sql | TransactionSql, schema: string): Promise<Routine[]> {
  const all = routines(schema)
  const lacked = await db
    .unsafe('select n from json_array_elements_text($1::text::json) n where to_regproc(n) is null', [
      JSON.stringify(all.map((r) => r.qualified)),
    ] as never)
    .values()
  const names = new Set(lacked.map((row) => row[0]))
  return all.filter((r) => names.has(r.qualified))
}
