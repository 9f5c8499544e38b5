// `oqronkit migrate`, run as a real process (from the sources, as the other process tests do) against the
// PostgreSQL at DATABASE_URL, each test in a schema of its own.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { SCHEMA_VERSION } from '@oqronkit/postgres'
import { afterAll, describe, expect, test } from 'vitest'
import { postgresAdapter } from '../src/postgres.js'

/** Every migration's id, in order, and as the CLI lists the ones it applied. */
const ALL = Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1)
const APPLIED = `applied ${ALL.join(', ')}`

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))

/** Runs the command with `args` and the environment `env` (DATABASE_URL set unless given). */
function oqronkit(
  args: string[],
  env: Record<string, string | undefined> = { DATABASE_URL },
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', tsx, '--import', loader, cli, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 20_000 },
      (error, out, err) => resolve({ code: error ? Number(error.code) : 0, out, err }),
    )
  })
}

const admin = postgresAdapter({ url: DATABASE_URL }, { migrate: false, max: 1 })
const schemas: string[] = []
function newSchema(): string {
  const schema = `oqcli_${randomBytes(5).toString('hex')}`
  schemas.push(schema)
  return schema
}
async function ledger(schema: string): Promise<number[]> {
  const rows = await admin.sql.unsafe(`select id from "${schema}".migrations order by id`).values()
  return rows.map((r) => r[0] as number)
}
async function schemaExists(schema: string): Promise<boolean> {
  const [row] = await admin.sql.unsafe('select to_regnamespace($1::text) is not null', [schema]).values()
  return row![0] as boolean
}

/** Locally a missing server skips this file with a message; under CI=true it runs and fails, never skips. */
async function reachable(): Promise<boolean> {
  try {
    await admin.sql.unsafe('select 1')
    return true
  } catch (err) {
    console.warn(
      `oqronkit migrate tests skipped: no PostgreSQL at ${DATABASE_URL} (${(err as Error).message})`,
    )
    return false
  }
}
const runSuite = process.env.CI === 'true' || (await reachable())

afterAll(async () => {
  for (const schema of schemas) await admin.sql.unsafe(`drop schema if exists "${schema}" cascade`)
  await admin.close()
})

describe.runIf(runSuite)('oqronkit migrate', () => {
  test('migrates an empty schema once; run again it has nothing to do; --check then says up to date', async () => {
    const schema = newSchema()
    const behind = await oqronkit(['migrate', '--schema', schema, '--check'])
    expect(behind.code).toBe(1)
    expect(behind.err).toContain(`is at version 0; this client needs ${SCHEMA_VERSION}`)
    expect(await schemaExists(schema)).toBe(false)

    const first = await oqronkit(['migrate', '--schema', schema])
    expect(first).toMatchObject({ code: 0, err: '' })
    expect(first.out).toMatch(
      new RegExp(
        `migrated to version ${SCHEMA_VERSION} \\(${APPLIED}; created routines claim_[0-9a-f]{16}\\)`,
      ),
    )
    expect(await ledger(schema)).toEqual(ALL)

    const again = await oqronkit(['migrate', '--url', DATABASE_URL, '--schema', schema], {})
    expect(again.code).toBe(0)
    expect(again.out).toContain('already; nothing to do')
    expect(await ledger(schema)).toEqual(ALL)

    expect(await oqronkit(['migrate', '--schema', schema, '--check'])).toMatchObject({ code: 0 })
  })

  test('two at once on an empty schema: both succeed, each migration applied once', async () => {
    const schema = newSchema()
    const [a, b] = await Promise.all([
      oqronkit(['migrate', '--schema', schema]),
      oqronkit(['migrate', '--schema', schema]),
    ])
    expect([a.code, b.code]).toEqual([0, 0])
    expect([a.out, b.out].filter((out) => out.includes(APPLIED))).toHaveLength(1)
    expect(await ledger(schema)).toEqual(ALL)
  })

  test('a schema newer than this client: exit 1, nothing changed, with or without --check', async () => {
    const schema = newSchema()
    await oqronkit(['migrate', '--schema', schema])
    await admin.sql.unsafe(`insert into "${schema}".migrations (id, name) values (99, 'from the future')`)
    const run = await oqronkit(['migrate', '--schema', schema])
    expect(run.code).toBe(1)
    expect(run.err).toContain('newer than this @oqronkit/postgres knows')
    const check = await oqronkit(['migrate', '--schema', schema, '--check'])
    expect(check.code).toBe(1)
    expect(check.err).toContain('is at version 99, newer than this client knows')
    expect(await ledger(schema)).toEqual([...ALL, 99])
  })

  test("a schema at this version without this client's routines: --check says so (exit 1); migrate creates them", async () => {
    const schema = newSchema()
    await oqronkit(['migrate', '--schema', schema])
    const [routine] = await admin.sql
      .unsafe(
        `select p.proname from pg_proc p where p.pronamespace = to_regnamespace($1::text) and p.proname like 'claim\\_%'`,
        [schema],
      )
      .values()
    const name = routine![0] as string
    // As left by a deploy step of another version.
    await admin.sql.unsafe(`drop function "${schema}".${name}`)
    const check = await oqronkit(['migrate', '--schema', schema, '--check'])
    expect(check.code).toBe(1)
    expect(check.err).toContain(`is at version ${SCHEMA_VERSION} but lacks this client's routines (${name})`)
    const run = await oqronkit(['migrate', '--schema', schema])
    expect(run).toMatchObject({ code: 0, err: '' })
    expect(run.out).toContain(`is at version ${SCHEMA_VERSION} already; created routines ${name}`)
    expect(await oqronkit(['migrate', '--schema', schema, '--check'])).toMatchObject({ code: 0 })
    expect(await ledger(schema)).toEqual(ALL)
  })

  test('bad input is a usage error (exit 2) that touches nothing', async () => {
    const cases: [string[], Record<string, string | undefined> | undefined, string][] = [
      [['migrate', '--schema', 'Bad-Name'], undefined, 'Invalid PostgreSQL schema name "Bad-Name"'],
      [['migrate'], {}, 'no database: pass --url or set DATABASE_URL'],
      [[], undefined, 'no command given'],
      [['frob'], undefined, 'unknown command "frob"'],
      [['migrate', '--frob'], undefined, "Unknown option '--frob'"],
      [['migrate', 'extra'], undefined, 'unexpected argument "extra"'],
    ]
    for (const [args, env, message] of cases) {
      const run = await oqronkit(args, env)
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.err).toContain(message)
      expect(run.err).toContain('Usage: oqronkit migrate')
    }
    expect(await schemaExists('Bad-Name')).toBe(false)
    const help = await oqronkit(['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toContain('Usage: oqronkit migrate')
  })

  test('a server that cannot be reached: exit 1 with the reason', async () => {
    const schema = newSchema()
    const url = 'postgres://postgres@127.0.0.1:1/postgres' // nothing listens on port 1 of the loopback
    const run = await oqronkit(['migrate', '--url', url, '--schema', schema], {})
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/ECONNREFUSED/)
    expect(await schemaExists(schema)).toBe(false)
  })
})
