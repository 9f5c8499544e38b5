// Bulk adds of ids the runtime made (`NewJob.idGenerated`) skip the duplicate check (ADD_FRESH); an id that
// exists after all (the very add sent again) must still be answered as a duplicate, changing nothing.
import { randomUUID } from 'node:crypto'
import { OqronConfigError } from '@oqronkit/core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { PostgresAdapters } from '../src/index.js'
import { newJob, openAdapter, runSuite, sharedAdapter } from './helpers.js'

describe.runIf(runSuite)('bulk add of runtime-made ids', () => {
  let a: PostgresAdapters
  let cleanup = async () => {}
  beforeAll(async () => {
    ;({ a, cleanup } = await openAdapter())
  })
  afterAll(() => cleanup())

  const fresh = (n: number) =>
    Array.from({ length: n }, () => newJob('q', { id: randomUUID(), idGenerated: true }))

  test('stored once each, in input order; the same add sent again answers duplicate for each', async () => {
    const jobs = fresh(5)
    const first = await a.broker.addBulk('f1', jobs)
    expect(first.map((r) => r.outcome)).toEqual(Array(5).fill('created'))
    const again = await a.broker.addBulk('f1', jobs)
    expect(again.map((r) => r.outcome)).toEqual(Array(5).fill('duplicate'))
    expect(again.map((r) => r.job)).toEqual(first.map((r) => r.job))
    const page = await a.storage.listJobs('f1', { queue: 'q', limit: 10 })
    expect(page.jobs.map((j) => j.id)).toEqual(jobs.map((j) => j.id).reverse()) // newest first: input order
  })

  test('some existing, some new: the new ones are created once, the others answered duplicate', async () => {
    const existing = fresh(2)
    await a.broker.addBulk('f2', existing)
    const added = fresh(3)
    const mixed = [added[0]!, existing[0]!, added[1]!, existing[1]!, added[2]!]
    const results = await a.broker.addBulk('f2', mixed)
    expect(results.map((r) => r.outcome)).toEqual(['created', 'duplicate', 'created', 'duplicate', 'created'])
    expect(results.map((r) => r.job?.id)).toEqual(mixed.map((j) => j.id))
    expect((await a.storage.countJobs('f2', 'q')).waiting).toBe(5)
  })

  test('a caller-chosen id in the batch takes the checked path: duplicates within the batch as ever', async () => {
    const [one] = fresh(1)
    const chosen = newJob('q', { id: 'chosen' })
    const results = await a.broker.addBulk('f3', [one!, chosen, { ...chosen, data: { other: true } }])
    expect(results.map((r) => r.outcome)).toEqual(['created', 'created', 'duplicate'])
    expect((await a.storage.getJob('f3', 'chosen'))?.data).toEqual(chosen.data)
  })

  test('several queues, delays and a disabled queue in one bulk: each record as stored, each outcome right', async () => {
    // ADD_FRESH answers one row per queue, status, due time and delay, not a row per job. 0.0025 ms is an odd
    // half microsecond: the server rounds it to 2 µs, the client's key to 3, so that job is looked up by id.
    const ns = 'groups'
    await a.broker.setDisabled(ns, 'off', true)
    const spec = [
      { queue: 'a' },
      { queue: 'b', delayMs: 1_500 },
      { queue: 'a', delayMs: 1.5 },
      { queue: 'a', delayMs: 0.0025 },
      { queue: 'b' },
      { queue: 'a', delayMs: 123.4567 },
      { queue: 'off', disabledBehavior: 'hold' as const },
      { queue: 'off', disabledBehavior: 'skip' as const },
      { queue: 'off', disabledBehavior: 'reject' as const, delayMs: 10 },
      { queue: 'off', disabledBehavior: 'hold' as const, delayMs: 10 },
      { queue: 'a', delayMs: 1.5 },
    ]
    const jobs = spec.map(({ queue, ...rest }) =>
      newJob(queue, { ...rest, id: randomUUID(), idGenerated: true }),
    )
    const results = await a.broker.addBulk(ns, jobs)
    expect(results.map((r) => r.outcome)).toEqual([
      'created',
      'created',
      'created',
      'created',
      'created',
      'created',
      'held',
      'skipped',
      'rejected',
      'held',
      'created',
    ])
    for (const [i, r] of results.entries()) {
      expect(await a.storage.getJob(ns, jobs[i]!.id)).toEqual(r.job)
    }
    expect(results.map((r) => r.job?.status)).toEqual([
      'waiting',
      'delayed',
      'delayed',
      'delayed',
      'waiting',
      'delayed',
      'paused',
      undefined,
      undefined,
      'paused',
      'delayed',
    ])
  })

  test('options left out of the input are stored as their defaults; each one set is stored as set', async () => {
    // ADD's input carries a job's options only where they differ from ADD_DEFAULTS; the statement fills in the rest.
    const plain = { delayMs: 0, priority: 0, lifo: false, maxAttempts: 1, guaranteed: true } as const
    const variants = [
      {},
      { delayMs: 60_000 },
      { priority: 5 },
      { lifo: true },
      { maxAttempts: 4 },
      { guaranteed: false },
    ]
    for (const idGenerated of [true, false]) {
      const ns = `defaults-${idGenerated}`
      const jobs = variants.map((v) => newJob('q', { ...plain, ...v, id: randomUUID(), idGenerated }))
      const added = await a.broker.addBulk(ns, jobs)
      for (const [i, v] of variants.entries()) {
        const stored = await a.storage.getJob(ns, jobs[i]!.id)
        expect(stored).toEqual(added[i]!.job)
        expect(stored).toMatchObject({
          priority: v.priority ?? 0,
          lifo: v.lifo ?? false,
          maxAttempts: v.maxAttempts ?? 1,
          guaranteed: v.guaranteed ?? true,
          status: v.delayMs ? 'delayed' : 'waiting',
        })
      }
    }
  })
})

describe.runIf(runSuite)('add: options past what a PostgreSQL column holds', () => {
  const { a, ns } = sharedAdapter()

  test('a maxAttempts past the integer range (retry "forever") is stored, not refused by the server', async () => {
    const s = ns()
    const big = { maxAttempts: Number.MAX_SAFE_INTEGER }
    const one = await a.broker.add(s, newJob('q', big))
    const bulk = await a.broker.addBulk(s, [newJob('q', big), newJob('q', big)])
    const fresh = await a.broker.addBulk(s, [
      newJob('q', { ...big, id: randomUUID(), idGenerated: true }),
      newJob('q', { ...big, id: randomUUID(), idGenerated: true }),
    ])
    for (const r of [one, ...bulk, ...fresh]) {
      expect(r.outcome).toBe('created')
      expect(r.job!.maxAttempts).toBeGreaterThanOrEqual(2 ** 31 - 1)
      expect(await a.storage.getJob(s, r.job!.id)).toEqual(r.job)
    }
    expect(await a.broker.claim(s, 'q', { workerId: 'w', limit: 10, leaseMs: 30_000 })).toHaveLength(5)
  })
})

describe.runIf(runSuite)('add: a priority PostgreSQL cannot store', () => {
  const { a, ns } = sharedAdapter()

  test.each([2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER])(
    'priority %d is refused with OqronConfigError naming it, and nothing is stored',
    async (priority) => {
      const s = ns()
      const one = await a.broker.add(s, newJob('q', { priority })).catch((e: unknown) => e)
      expect(one).toBeInstanceOf(OqronConfigError)
      expect((one as OqronConfigError).field).toBe('priority')
      const bulk = await a.broker
        .addBulk(s, [newJob('q'), newJob('q', { priority })])
        .catch((e: unknown) => e)
      expect(bulk).toBeInstanceOf(OqronConfigError)
      expect((bulk as OqronConfigError).field).toBe('priority')
      expect((await a.storage.listJobs(s, { limit: 10 })).jobs).toEqual([])
    },
  )

  test('the extremes of the integer range are stored and delivered in priority order', async () => {
    const s = ns()
    await a.broker.addBulk(s, [
      newJob('q', { id: 'low', priority: -(2 ** 31) }),
      newJob('q', { id: 'high', priority: 2 ** 31 - 1 }),
    ])
    const claimed = await a.broker.claim(s, 'q', { workerId: 'w', limit: 2, leaseMs: 30_000 })
    expect(claimed.map((j) => j.id)).toEqual(['high', 'low'])
  })
})
