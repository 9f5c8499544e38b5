import { AdapterError, OqronConfigError } from '@oqronkit/core'
import { afterAll, describe, expect, test } from 'vitest'
import { migrate, postgresAdapter, SCHEMA_VERSION, SchemaVersionError, schemaStatus } from '../src/index.js'
import { MIGRATIONS } from '../src/migrate.js'
import { claimRoutine } from '../src/routines.js'
import { adminSql, DATABASE_URL, dropSchema, newJob, randomSchema, runSuite } from './helpers.js'

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

  test('a role that may not create schemas opens an up-to-date schema with migrate on: nothing to apply, no DDL', async () => {
    // The usual split: a deploy step migrates as the owner, the application connects as a role that may read
    // and write the tables but not create anything. With nothing pending, open() must not need DDL rights.
    const schema = fresh()
    await migrate({ url: DATABASE_URL, schema })
    const admin = adminSql()
    const role = randomSchema('oqm_app')
    const url = new URL(DATABASE_URL)
    url.username = role
    await admin.unsafe(`create role ${role} login`)
    try {
      await admin.unsafe(`grant usage on schema "${schema}" to ${role}`)
      await admin.unsafe(`grant select on "${schema}".migrations to ${role}`)
      expect(await migrate({ url: url.toString(), schema })).toEqual({
        applied: [],
        routines: [],
        version: SCHEMA_VERSION,
      })
      const a = postgresAdapter({ url: url.toString() }, { schema })
      try {
        await a.open()
      } finally {
        await a.close()
      }
    } finally {
      await admin.unsafe(`drop schema if exists "${schema}" cascade`)
      await admin.unsafe(`drop role ${role}`)
      await admin.end({ timeout: 1 })
    }
  })

  test('migrate() reports what it applied, and is a no-op the second time', async () => {
    const schema = fresh()
    expect(await migrate({ url: DATABASE_URL, schema })).toEqual({
      applied: Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      routines: [claimRoutine(schema).name],
      version: SCHEMA_VERSION,
    })
    expect(await migrate({ url: DATABASE_URL, schema })).toEqual({
      applied: [],
      routines: [],
      version: SCHEMA_VERSION,
    })
  })

  test("a schema at this version that lacks this client's routines (another version migrated it)", async () => {
    const schema = fresh()
    await migrate({ url: DATABASE_URL, schema })
    const claim = claimRoutine(schema)
    const sql = adminSql()
    const exists = async () =>
      (await sql.unsafe('select to_regproc($1::text) is not null as e', [claim.qualified]))[0]!.e as boolean
    try {
      await sql.unsafe(`drop function ${claim.qualified}`)
      expect(await schemaStatus({ url: DATABASE_URL, schema })).toEqual({
        version: SCHEMA_VERSION,
        current: false,
        lackedRoutines: [claim.name],
      })
      // migrate: false refuses to start, naming what is missing, and creates nothing.
      const refused = postgresAdapter({ sql }, { schema, migrate: false })
      const err = await refused.open().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SchemaVersionError)
      expect(err).toMatchObject({ databaseVersion: SCHEMA_VERSION, lackedRoutines: [claim.name] })
      expect((err as Error).message).toMatch(/lacks the routines of this @oqronkit\/postgres version/)
      expect(await exists()).toBe(false)
      await refused.close()
      // init() (migrate on) creates them under the migration lock, and claims run.
      const a = postgresAdapter({ sql }, { schema })
      try {
        await a.open()
        expect(await exists()).toBe(true)
        expect((await schemaStatus({ url: DATABASE_URL, schema })).current).toBe(true)
        const job = newJob('q')
        await a.broker.add('n', job)
        const [got] = await a.broker.claim('n', 'q', { workerId: 'w', limit: 5, leaseMs: 30_000 })
        expect(got).toMatchObject({ id: job.id, status: 'active' })
      } finally {
        await a.close()
      }
    } finally {
      await sql.end()
    }
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

  test('a schema at 000001 holding jobs migrates to the newest version; its jobs stay readable and runnable', async () => {
    const schema = fresh()
    const q = `"${schema}"`
    const sql = adminSql()
    try {
      // The schema exactly as a client that knew only 000001 left it, with jobs in several states.
      await sql.begin(async (tx) => {
        await tx.unsafe(`create schema ${q}`)
        await tx.unsafe(
          `create table ${q}.migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())`,
        )
        await tx.unsafe(MIGRATIONS[0]!.sql.replaceAll('{{schema}}', q))
        await tx.unsafe(`insert into ${q}.migrations (id, name) values (1, '000001.sql')`)
        const entry = (event: string) => `${q}.entry('${event}', null, null)`
        await tx.unsafe(
          `insert into ${q}.jobs (ns, id, queue, status, seq, ord, data, result, attempts, max_attempts, worker_id,
             token, lock_expires_at, started_at, finished_at, timeline)
           values
             ('n', 'w1', 'q', 'waiting', 1, 1, '{"k":1}', null, 0, 3, null, null, null, null, null,
               jsonb_build_array(${entry('added')})),
             ('n', 'a1', 'q', 'active', 2, 2, '{"k":2}', null, 1, 3, 'old', 'tok1', now() - interval '1 s',
               now(), null, jsonb_build_array(${entry('added')}, ${entry('active')})),
             ('n', 'a2', 'q', 'active', 3, 3, '{"k":3}', null, 1, 3, 'old', 'tok2', now() + interval '60 s',
               now(), null, jsonb_build_array(${entry('added')}, ${entry('active')})),
             ('n', 'c1', 'r', 'completed', 4, 4, '{"k":4}', '{"ok":true}', 1, 3, 'old', null, null, now(), now(),
               jsonb_build_array(${entry('added')}, ${entry('active')}, ${entry('completed')}))`,
        )
      })
      const a = postgresAdapter({ url: DATABASE_URL }, { schema })
      try {
        await a.open()
        const ledger = await sql.unsafe(`select id from ${q}.migrations order by id`)
        expect(ledger.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id))
        const indexes = await sql.unsafe(
          'select indexname from pg_indexes where schemaname = $1 and tablename = $2 order by 1',
          [schema, 'jobs'],
        )
        expect(indexes.map((r) => r.indexname)).toEqual([
          'jobs_active',
          'jobs_claim',
          'jobs_claim_rest',
          'jobs_delayed',
          'jobs_finished',
          'jobs_list',
          'jobs_pkey',
        ])

        const c1 = await a.storage.getJob('n', 'c1')
        expect(c1).toMatchObject({ status: 'completed', result: { ok: true }, data: { k: 4 } })
        expect(c1!.timeline.map((e) => e.event)).toEqual(['added', 'active', 'completed'])
        expect(await a.storage.countJobs('n', 'q')).toMatchObject({ waiting: 1, active: 2, completed: 0 })
        expect((await a.storage.listJobs('n', { limit: 10 })).jobs.map((j) => j.id)).toEqual([
          'c1',
          'a2',
          'a1',
          'w1',
        ])
        expect(
          (await a.storage.listJobs('n', { queue: 'q', status: 'active', limit: 10 })).jobs.map((j) => j.id),
        ).toEqual(['a2', 'a1'])

        // The live lease of the old client still fences; the expired one is recovered and re-run.
        expect(await a.broker.renew('n', 'a2', 'tok2', 60_000)).toBe('ok')
        const stalled = await a.broker.recoverStalled('n', 'q', { maxStalledCount: 1, limit: 10 })
        expect(stalled.map((s) => [s.job.id, s.action])).toEqual([['a1', 'requeued']])
        const claimed = await a.broker.claim('n', 'q', { workerId: 'new', limit: 10, leaseMs: 30_000 })
        expect(claimed.map((j) => j.id)).toEqual(['a1', 'w1'])
        for (const j of claimed) expect(await a.broker.complete('n', j.id, j.token!, j.id)).toBe(true)
        expect(await a.broker.complete('n', 'a2', 'tok2', 'a2')).toBe(true)
        // a job active across the upgrade already holds its `active` entry: it is not added a second time
        const a2 = await a.storage.getJob('n', 'a2')
        expect(a2!.timeline.map((e) => e.event)).toEqual(['added', 'active', 'completed'])
        const w1 = await a.storage.getJob('n', 'w1')
        expect(w1).toMatchObject({ status: 'completed', result: 'w1', attempts: 1, data: { k: 1 } })
        expect(w1!.timeline.map((e) => e.event)).toEqual(['added', 'active', 'completed'])
        expect(await a.storage.countJobs('n', 'q')).toMatchObject({ waiting: 0, active: 0, completed: 3 })
      } finally {
        await a.close()
      }
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
