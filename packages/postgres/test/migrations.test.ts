import { AdapterError, OqronConfigError } from '@oqronkit/core'
import { afterAll, describe, expect, test } from 'vitest'
import { migrate, postgresAdapter, SCHEMA_VERSION, SchemaVersionError } from '../src/index.js'
import { adminSql, DATABASE_URL, dropSchema, randomSchema, runSuite } from './helpers.js'

describe.runIf(runSuite)('migrations', () => {
  const schemas: string[] = []
  const fresh = () => {
    const s = randomSchema('oqm')
    schemas.push(s)
    return s
  }
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s)
  })

  test('two adapters opening at once on an empty schema both succeed; the ledger has each migration once', async () => {
    const schema = fresh()
    const nodes = [0, 1, 2].map(() => postgresAdapter({ url: DATABASE_URL }, { schema }))
    try {
      await Promise.all(nodes.map((n) => n.open()))
      const sql = adminSql()
      try {
        const rows = await sql.unsafe(
          `select id, count(*)::int as n from "${schema}".migrations group by id order by id`,
        )
        expect(rows.map((r) => [r.id, r.n])).toEqual(
          Array.from({ length: SCHEMA_VERSION }, (_, i) => [i + 1, 1]),
        )
      } finally {
        await sql.end()
      }
    } finally {
      await Promise.all(nodes.map((n) => n.close()))
    }
  })

  test('migrate() reports what it applied, and is a no-op the second time', async () => {
    const schema = fresh()
    expect(await migrate({ url: DATABASE_URL, schema })).toEqual({
      applied: Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      version: SCHEMA_VERSION,
    })
    expect((await migrate({ url: DATABASE_URL, schema })).applied).toEqual([])
  })

  test('a schema newer than the client throws SchemaVersionError and changes nothing', async () => {
    const schema = fresh()
    await migrate({ url: DATABASE_URL, schema })
    const sql = adminSql()
    try {
      await sql.unsafe(
        `insert into "${schema}".migrations (id, name) values (${SCHEMA_VERSION + 1}, 'future.sql')`,
      )
      const a = postgresAdapter({ sql }, { schema })
      const err = await a.open().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SchemaVersionError)
      expect(err).toBeInstanceOf(AdapterError)
      expect(err).toMatchObject({
        name: 'SchemaVersionError',
        code: 'OQRON_ADAPTER',
        schema,
        databaseVersion: SCHEMA_VERSION + 1,
        clientVersion: SCHEMA_VERSION,
      })
      expect((err as Error).message).toMatch(/newer than this @oqronkit\/postgres knows/)
      const b = postgresAdapter({ sql }, { schema, migrate: false })
      await expect(b.open()).rejects.toBeInstanceOf(SchemaVersionError)
      const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".migrations`)
      expect(row!.n).toBe(SCHEMA_VERSION + 1)
      await a.close()
      await b.close()
    } finally {
      await sql.end()
    }
  })

  test('migrate: false on an unmigrated schema fails with an instruction and creates nothing', async () => {
    const schema = fresh()
    const a = postgresAdapter({ url: DATABASE_URL }, { schema, migrate: false })
    try {
      const err = await a.open().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SchemaVersionError)
      expect((err as Error).message).toMatch(/Run migrate\(\)/)
      const sql = adminSql()
      const rows = await sql`select 1 from pg_namespace where nspname = ${schema}`
      await sql.end()
      expect(rows.length).toBe(0)
    } finally {
      await a.close()
    }
  })

  test('bad options are OqronConfigErrors thrown before connecting', () => {
    expect(() => postgresAdapter({ url: DATABASE_URL }, { schema: 'Bad-Name' })).toThrow(OqronConfigError)
    expect(() => postgresAdapter({ url: DATABASE_URL }, { max: 0 })).toThrow(OqronConfigError)
    expect(() => postgresAdapter({} as never)).toThrow(OqronConfigError)
  })
})
