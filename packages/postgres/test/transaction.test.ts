import { OqronConfigError } from '@oqronkit/core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { enqueueInTransaction, type PostgresAdapters, postgresAdapter, type Sql } from '../src/index.js'
import { adminSql, dropSchema, newJob, randomSchema, runSuite, sleep } from './helpers.js'

describe.runIf(runSuite)('transactional enqueue', () => {
  let sql: Sql
  let a: PostgresAdapters
  const schema = randomSchema()

  beforeAll(async () => {
    sql = adminSql()
    a = postgresAdapter({ sql }, { schema })
    await a.open()
    await sql.unsafe(`create table "${schema}".orders (id text primary key)`)
    // the first wait after LISTEN starts returns at once (anything before it may have been missed)
    await a.broker.waitForWork('warm', 'q', 10, new AbortController().signal)
  })
  afterAll(async () => {
    await a.close()
    await sql.end()
    await dropSchema(schema)
  })

  test('a transaction that enqueues and rolls back leaves no job and wakes nobody', async () => {
    expect(await a.broker.claim('t', 'q', { workerId: 'w', limit: 1, leaseMs: 1000 })).toEqual([])
    const waiting = a.broker.waitForWork('t', 'q', 600, new AbortController().signal)
    const t0 = performance.now()
    await expect(
      sql.begin(async (tx) => {
        await tx.unsafe(`insert into "${schema}".orders values ('o1')`)
        const r = await a.broker.add('t', newJob('q', { id: 'rolled-back' }), { tx })
        expect(r.outcome).toBe('created')
        throw new Error('business rule failed')
      }),
    ).rejects.toThrow('business rule failed')
    expect(await a.storage.getJob('t', 'rolled-back')).toBeNull()
    const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".orders`)
    expect(row!.n).toBe(0)
    await waiting
    expect(performance.now() - t0).toBeGreaterThanOrEqual(500)
  })

  test('a transaction that commits makes exactly one job, visible and claimable only after commit', async () => {
    let seenInside: unknown = 'unset'
    await sql.begin(async (tx) => {
      await tx.unsafe(`insert into "${schema}".orders values ('o2')`)
      const r = await enqueueInTransaction(tx, a, 't', newJob('q', { id: 'committed' }))
      expect(r.outcome).toBe('created')
      seenInside = await a.storage.getJob('t', 'committed') // another connection: not yet visible
      const dup = await a.broker.add('t', newJob('q', { id: 'committed' }), { tx })
      expect(dup.outcome).toBe('duplicate')
    })
    expect(seenInside).toBeNull()
    const [job] = await a.broker.claim('t', 'q', { workerId: 'w', limit: 5, leaseMs: 1000 })
    expect(job!.id).toBe('committed')
  })

  test('the commit notifies waiting consumers', async () => {
    expect(await a.broker.claim('t2', 'q', { workerId: 'w', limit: 1, leaseMs: 1000 })).toEqual([])
    const t0 = performance.now()
    const waiting = a.broker.waitForWork('t2', 'q', 10_000, new AbortController().signal)
    await sleep(20)
    await sql.begin(async (tx) => {
      await a.broker.addBulk('t2', [newJob('q'), newJob('q')], { tx })
    })
    await waiting
    expect(performance.now() - t0).toBeLessThan(2_000)
  })

  test('runtime-made ids sent again inside a transaction are answered duplicate and the transaction goes on', async () => {
    const jobs = [newJob('q', { idGenerated: true }), newJob('q', { idGenerated: true })]
    await a.broker.addBulk('t3', jobs)
    await sql.begin(async (tx) => {
      const again = await a.broker.addBulk('t3', [...jobs, newJob('q', { idGenerated: true })], { tx })
      expect(again.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'created'])
      await tx.unsafe(`insert into "${schema}".orders values ('o3')`) // the transaction is not aborted
    })
    expect((await a.storage.countJobs('t3', 'q')).waiting).toBe(3)
  })

  test('a tx that is not a postgres.js transaction is refused with OqronConfigError, and nothing is stored', async () => {
    // The client itself (its statements are not in any transaction) and something else entirely (e.g. another
    // driver's client): the contract asks for OqronConfigError, not a job stored outside the caller's transaction.
    for (const tx of [sql, {}]) {
      const job = newJob('q')
      const one = await a.broker.add('t4', job, { tx: tx as never }).catch((e: unknown) => e)
      expect(one).toBeInstanceOf(OqronConfigError)
      expect((one as OqronConfigError).field).toBe('tx')
      const bulk = await a.broker
        .addBulk('t4', [newJob('q'), newJob('q')], { tx: tx as never })
        .catch((e: unknown) => e)
      expect(bulk).toBeInstanceOf(OqronConfigError)
      expect(await a.storage.getJob('t4', job.id)).toBeNull()
    }
    expect((await a.storage.countJobs('t4', 'q')).waiting).toBe(0)
  })
})
