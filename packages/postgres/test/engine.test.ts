// The adapter under the engine: transactional enqueue through queue().add(data, { tx }), two nodes
// initialising at once on an empty schema, and a worker whose connections go half-open, all through
// OqronRuntime as an application uses them.
import { OqronRuntime, queue } from 'oqronkit'
import { postgresAdapter } from 'oqronkit/postgres'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { SCHEMA_VERSION, type Sql, type TransactionSql } from '../src/index.js'
import {
  adminSql,
  DATABASE_URL,
  dropSchema,
  proxiedAdapter,
  randomSchema,
  runSuite,
  sleep,
} from './helpers.js'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

describe.runIf(runSuite)('transactional enqueue through queue().add(data, { tx })', () => {
  const schema = randomSchema('oqe')
  let sql: Sql
  let runtime: OqronRuntime
  const ran: string[] = []
  let orders: ReturnType<typeof queue<{ orderId: string }, string>>

  async function businessInsert(tx: TransactionSql, id: string): Promise<void> {
    await tx.unsafe(`insert into "${schema}".orders (id) values ($1)`, [id])
  }

  beforeAll(async () => {
    sql = adminSql()
    runtime = new OqronRuntime()
    orders = queue<{ orderId: string }, string>({
      name: 'orders',
      runtime,
      handler: async (ctx) => {
        ran.push(ctx.data.orderId)
        return `shipped ${ctx.data.orderId}`
      },
    })
    await runtime.init({
      adapters: postgresAdapter({ url: DATABASE_URL }, { schema }),
      shutdown: { signals: false },
      logger: quiet,
    })
    await sql.unsafe(`create table "${schema}".orders (id text primary key)`)
  })
  afterAll(async () => {
    await runtime.stop()
    await sql.end()
    await dropSchema(schema)
  })

  test('a rolled-back transaction leaves neither the business row nor a job, and nothing runs', async () => {
    const failure = await sql
      .begin(async (tx) => {
        await businessInsert(tx, 'o-rollback')
        const added = await orders.add({ orderId: 'o-rollback' }, { jobId: 'o-rollback', tx })
        expect(added.outcome).toBe('created')
        throw new Error('payment declined')
      })
      .catch((e: unknown) => e)
    expect(failure).toMatchObject({ message: 'payment declined' })

    // Give an idle consumer ample time to pick up anything that leaked out of the transaction.
    await sleep(1_000)
    expect(await orders.getJob('o-rollback')).toBeNull()
    expect(ran).not.toContain('o-rollback')
    const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".orders`)
    expect(row!.n).toBe(0)
  })

  test('a committed transaction makes the job, invisible until commit, and it is processed', async () => {
    let visibleBeforeCommit: unknown = 'unset'
    await sql.begin(async (tx) => {
      await businessInsert(tx, 'o-commit')
      const added = await orders.add({ orderId: 'o-commit' }, { jobId: 'o-commit', tx })
      expect(added.outcome).toBe('created')
      await sleep(300) // a consumer polling or woken now must not see it yet
      visibleBeforeCommit = await orders.getJob('o-commit')
    })
    expect(visibleBeforeCommit).toBeNull()
    await vi.waitFor(
      async () => {
        const job = await orders.getJob('o-commit')
        expect(job?.status).toBe('completed')
        expect(job?.result).toBe('shipped o-commit')
      },
      { timeout: 10_000, interval: 50 },
    )
    expect(ran.filter((id) => id === 'o-commit')).toHaveLength(1)
  })

  test('addBulk inside a transaction: all or nothing', async () => {
    const items = (ids: string[], tx: TransactionSql) =>
      ids.map((id) => ({ data: { orderId: id }, options: { jobId: id, tx } }))
    await sql
      .begin(async (tx) => {
        await orders.addBulk(items(['b-r1', 'b-r2'], tx))
        throw new Error('abort bulk')
      })
      .catch(() => {})
    await sql.begin(async (tx) => {
      await orders.addBulk(items(['b-c1', 'b-c2'], tx))
    })
    await vi.waitFor(
      async () => {
        for (const id of ['b-c1', 'b-c2']) expect((await orders.getJob(id))?.status).toBe('completed')
      },
      { timeout: 10_000, interval: 50 },
    )
    expect(await orders.getJob('b-r1')).toBeNull()
    expect(await orders.getJob('b-r2')).toBeNull()
    expect(ran).not.toContain('b-r1')
  })
})

describe.runIf(runSuite)('two nodes calling init() at the same moment on an empty schema', () => {
  const schema = randomSchema('oqi')
  afterAll(async () => {
    await dropSchema(schema)
  })

  test('both succeed, both work, and the ledger shows each migration once', async () => {
    const nodes = [new OqronRuntime(), new OqronRuntime()]
    const done: string[] = []
    const qs = nodes.map((runtime, i) =>
      queue<{ n: number }>({
        name: 'race',
        runtime,
        handler: async (ctx) => {
          done.push(`${i}:${ctx.data.n}`)
        },
      }),
    )
    // Each node its own adapter (its own pool and LISTEN connection), as two processes would have.
    const adapters = nodes.map(() => postgresAdapter({ url: DATABASE_URL }, { schema, max: 2 }))
    try {
      await Promise.all(
        nodes.map((runtime, i) =>
          runtime.init({ adapters: adapters[i], shutdown: { signals: false }, logger: quiet }),
        ),
      )
      expect(nodes.every((n) => n.isRunning)).toBe(true)

      const sql = adminSql()
      try {
        const ledger = await sql.unsafe(
          `select id, count(*)::int as n from "${schema}".migrations group by id order by id`,
        )
        expect(ledger.map((r) => [r.id, r.n])).toEqual(
          Array.from({ length: SCHEMA_VERSION }, (_, i) => [i + 1, 1]),
        )
      } finally {
        await sql.end()
      }

      await qs[0]!.addBulk(Array.from({ length: 20 }, (_, n) => ({ data: { n } })))
      await vi.waitFor(() => expect(done).toHaveLength(20), { timeout: 10_000, interval: 50 })
    } finally {
      await Promise.all(nodes.map((n) => n.stop()))
    }
  })
})

describe.runIf(runSuite)('a worker whose connections all go half-open keeps going', () => {
  test('every job completes once, resumed within replyTimeoutMs of the freeze, none run twice', async () => {
    const replyTimeoutMs = 500
    const { proxy, a, close } = await proxiedAdapter({ replyTimeoutMs })
    const runtime = new OqronRuntime()
    const runs = new Map<number, number>()
    const done = new Set<number>()
    const leaseLost: string[] = []
    const jobs = queue<{ n: number }>({
      name: 'frozen',
      runtime,
      concurrency: 5,
      heartbeatMs: 250,
      lockTtlMs: 5_000,
      handler: async (ctx) => {
        runs.set(ctx.data.n, (runs.get(ctx.data.n) ?? 0) + 1)
        await sleep(20)
      },
    })
    runtime.on('completed', (e) => done.add((e.job.data as { n: number }).n))
    runtime.on('lease-lost', (e) => leaseLost.push(e.reason))
    try {
      await runtime.init({
        adapters: a,
        shutdown: { signals: false },
        // Wake-ups must come from a live subscription, not from the poll (20 s here).
        pollIntervalMs: 20_000,
        logger: quiet,
      })
      await jobs.addBulk(Array.from({ length: 150 }, (_, n) => ({ data: { n } })))
      while (done.size < 30) await sleep(5)
      // Every open connection (pools and LISTEN) now swallows what is sent on it and never answers.
      proxy.freeze()
      const frozenAt = Date.now()
      const before = done.size
      while (done.size === before && Date.now() - frozenAt < 10_000) await sleep(5)
      const resumedAfter = Date.now() - frozenAt
      while (done.size < 150 && Date.now() - frozenAt < 20_000) await sleep(10)
      expect(done.size).toBe(150)
      // Without replyTimeoutMs the worker waits on the frozen connections for TCP keepalive (minutes).
      expect(resumedAfter).toBeLessThan(replyTimeoutMs + 2_000)
      expect([...runs.values()].every((count) => count === 1)).toBe(true)
      expect(runs.size).toBe(150)
      expect(leaseLost).toEqual([])
      // The worker is idle now, parked on its wake-up. The connection it listens on was frozen too; it must
      // have been renewed with the others, or this job would wait for the 20 s poll.
      await sleep(200)
      const addedAt = Date.now()
      await jobs.add({ n: 150 })
      while (!done.has(150) && Date.now() - addedAt < 5_000) await sleep(5)
      expect(Date.now() - addedAt).toBeLessThan(1_000)
    } finally {
      await runtime.stop()
      await close()
    }
  })
})
