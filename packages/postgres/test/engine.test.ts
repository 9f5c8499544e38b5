// The adapter under the engine: transactional enqueue through queue().add(data, { tx }), two nodes
// initialising at once on an empty schema, and a worker whose connections go half-open, all through
// OqronRuntime as an application uses them.
import { freezeDrill } from '@oqronkit/testkit/proxy'
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
  test('freezeDrill: every job completes once, resumed within replyTimeoutMs of the freeze; idle wake-ups live', async () => {
    const replyTimeoutMs = 500
    const { proxy, a, close } = await proxiedAdapter({ replyTimeoutMs })
    try {
      const report = await freezeDrill({ proxy, adapters: a })
      expect(report.completed).toBe(report.jobs)
      // Without replyTimeoutMs the worker waits on the frozen connections for TCP keepalive (minutes).
      expect(report.resumedAfterMs).not.toBeNull()
      expect(report.resumedAfterMs!).toBeLessThan(replyTimeoutMs + 2_000)
      expect(report.ranTwice).toBe(0)
      expect(report.leaseLost).toEqual([])
      // The LISTEN connection was frozen too and went with the main pool: wake-ups work again.
      expect(report.idlePickupMs).not.toBeNull()
      expect(report.idlePickupMs!).toBeLessThan(1_000)
    } finally {
      await close()
    }
  })
})

describe.runIf(runSuite)('an idle worker whose LISTEN connection alone goes half-open', () => {
  test('the listener is replaced within two replyTimeoutMs: a job added then is picked up long before the poll', async () => {
    // Every other connection stays healthy, so no statement ever misses its deadline: only the listener's own
    // liveness check can notice. The poll is 20 s; without the check the job waits for it.
    const replyTimeoutMs = 400
    const { proxy, a, close } = await proxiedAdapter({ replyTimeoutMs })
    // The producer adds on a connection of its own, straight to the server.
    const producer = new OqronRuntime()
    const toQuiet = queue({ name: 'quiet', runtime: producer })
    const runtime = new OqronRuntime()
    const started: number[] = []
    const q = queue({
      name: 'quiet',
      runtime,
      concurrency: 1,
      handler: () => void started.push(performance.now()),
    })
    try {
      await runtime.init({
        adapters: a,
        logger: quiet,
        pollIntervalMs: 20_000,
        shutdown: { signals: false },
      })
      await producer.init({
        adapters: postgresAdapter({ url: DATABASE_URL }, { schema: a.schema }),
        logger: quiet,
        shutdown: { signals: false },
      })
      await q.add({})
      await vi.waitFor(() => expect(started).toHaveLength(1), { timeout: 5_000 })
      await sleep(200) // parked on its wake-up
      expect(proxy.freeze((sent) => sent.includes('listen "'))).toBe(1)
      await sleep(3 * replyTimeoutMs)
      const t0 = performance.now()
      await toQuiet.add({})
      await vi.waitFor(() => expect(started).toHaveLength(2), { timeout: 5_000, interval: 20 })
      expect(started[1]! - t0).toBeLessThan(1_000)
    } finally {
      await runtime.stop()
      await producer.stop()
      await close()
    }
  })
})
