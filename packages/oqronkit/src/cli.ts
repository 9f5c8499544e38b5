#!/usr/bin/env node
/**
 * The `oqronkit` command. One subcommand for now: `oqronkit migrate`, for teams who run database migrations
 * as a deploy step instead of letting `init()` do it. Exit codes: 0 done (or, with `--check`, up to date),
 * 1 failed (unreachable server, a schema newer than this client, a migration error; with `--check`, not up
 * to date), 2 a usage error (nothing was done).
 */
import { parseArgs } from 'node:util'
import { OqronConfigError } from '@oqronkit/core'
import { migrate, postgresAdapterDefaults, SCHEMA_VERSION, schemaStatus } from '@oqronkit/postgres'

const USAGE = `Usage: oqronkit migrate [--url <postgres-url>] [--schema <name>] [--check]

  Brings the PostgreSQL schema of @oqronkit/postgres up to this client's version (${SCHEMA_VERSION}).
  Safe to run from several nodes at once: one migrates, the others wait and find nothing to do.

  --url      the connection string (default: the DATABASE_URL environment variable)
  --schema   the schema that holds OqronKit's tables (default: ${postgresAdapterDefaults.schema})
  --check    change nothing: exit 0 if the schema is at version ${SCHEMA_VERSION}, 1 if not
  --help     this text`

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof TypeError)) throw error
    console.error(`oqronkit: ${error.message}\n\n${USAGE}`)
    return 2
  }
  if (parsed === 'help') {
    console.log(USAGE)
    return 0
  }
  const { url, schema, check } = parsed
  try {
    if (check) {
      const { version, current, lackedRoutines } = await schemaStatus({ url, schema })
      if (current) {
        console.log(`oqronkit: schema "${schema}" is at version ${version}, this client's; nothing to do`)
        return 0
      }
      console.error(
        version < SCHEMA_VERSION
          ? `oqronkit: schema "${schema}" is at version ${version}; this client needs ${SCHEMA_VERSION}: run oqronkit migrate`
          : version > SCHEMA_VERSION
            ? `oqronkit: schema "${schema}" is at version ${version}, newer than this client knows (${SCHEMA_VERSION}): upgrade @oqronkit/postgres`
            : `oqronkit: schema "${schema}" is at version ${version} but lacks this client's routines (${lackedRoutines.join(', ')}): run oqronkit migrate`,
      )
      return 1
    }
    const { applied, routines, version } = await migrate({ url, schema })
    const created = routines.length > 0 ? `; created routines ${routines.join(', ')}` : ''
    console.log(
      applied.length > 0
        ? `oqronkit: schema "${schema}" migrated to version ${version} (applied ${applied.join(', ')}${created})`
        : routines.length > 0
          ? `oqronkit: schema "${schema}" is at version ${version} already${created}`
          : `oqronkit: schema "${schema}" is at version ${version} already; nothing to do`,
    )
    return 0
  } catch (error) {
    if (error instanceof OqronConfigError) {
      console.error(`oqronkit: ${error.message}\n\n${USAGE}`)
      return 2
    }
    console.error(`oqronkit: ${(error as Error).message}`)
    return 1
  }
}

function parse(argv: string[]): 'help' | { url: string; schema: string; check: boolean } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      schema: { type: 'string' },
      check: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help || positionals[0] === 'help') return 'help'
  if (positionals.length === 0) throw new UsageError('no command given')
  if (positionals[0] !== 'migrate') throw new UsageError(`unknown command "${positionals[0]}"`)
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`)
  const url = values.url ?? process.env.DATABASE_URL
  if (!url) throw new UsageError('no database: pass --url or set DATABASE_URL')
  return { url, schema: values.schema ?? postgresAdapterDefaults.schema, check: values.check ?? false }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
