// Plans a connection made while the jobs table was nearly empty must not slow the adapter down once the
// table is large. PostgreSQL keeps a prepared statement's generic plan until something invalidates it (an
// ANALYZE, usually autovacuum's; this CI server runs with autovacuum off), and such a plan once read the
// namespace's whole primary-key range per call (docs/postgres.md, "Plans made on an empty table").
import { postgresAdapter } from 'oqronkit/postgres'
import { describe, expect, test } from 'vitest'
import type { PostgresAdapters } from '../src/index.js'
import { adminSql, DATABASE_URL, newJob, openAdapter, runSuite } from './helpers.js'

const ns = 'plans'
const q = 'q'

/** One round of the statements that join `jobs` to a set, timed one by one (ms). */
async function round(a: PostgresAdapters, batch = 50): Promise<Record<string, number>> {
  const t: Record<string, number> = {}
  const time = async (name: string, f: () => Promise<unknown>) => {
    const s = performance.now()
    await f()
    t[name] = performance.now() - s
  }
  let got: Awaited<ReturnType<typeof a.broker.claim>> = []
  await time('claim', async () => {
    got = await a.broker.claim(ns, q, { workerId: 'w', limit: batch, leaseMs: 60_000 })
  })
  expect(got).toHaveLength(batch)
  const half = batch / 2
  await time('complete', () =>
    Promise.all(got.slice(0, half).map((j) => a.broker.complete(ns, j.id, j.token!, 1))),
  )
  await time('completeRemove', () =>
    Promise.all(got.slice(half).map((j) => a.broker.complete(ns, j.id, j.token!, 1, { remove: true }))),
  )
  await time('stallScan', () => a.broker.recoverStalled(ns, q, { limit: 100, maxStalledCount: 1 }))
  await time('listQueue', () => a.storage.listJobs(ns, { queue: q, limit: 50 }))
  await time('listAll', () => a.storage.listJobs(ns, { limit: 50 }))
  await time('prune', () =>
    a.storage.prune(ns, q, { status: 'completed', keep: 1_000_000, maxAgeMs: null, limit: 100 }),
  )
  const one = got[0]!
  await time('retry', () => a.broker.retry(ns, one.id))
  await time('removeJob', () => a.storage.removeJob(ns, one.id))
  return t
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!

describe.runIf(runSuite)('plans made on an empty table', () => {
  test('after a quiet start and a burst to 40,000 jobs, statements run as fast as on an adapter opened after the burst', async () => {
    const { a: cold, schema, cleanup } = await openAdapter()
    const admin = adminSql()
    let warm: PostgresAdapters | undefined
    try {
      await admin.unsafe(`alter table "${schema}".jobs set (autovacuum_enabled = false)`)
      // A quiet start, two jobs at a time: every statement runs often enough on a nearly empty table for
      // PostgreSQL to cache a generic plan (after five runs), and the claim pool plans CLAIM once.
      for (let i = 0; i < 12; i++) {
        await cold.broker.addBulk(ns, [newJob(q), newJob(q)])
        await round(cold, 2)
      }
      for (let i = 0; i < 40_000; i += 2_000)
        await cold.broker.addBulk(
          ns,
          Array.from({ length: 2_000 }, () => newJob(q)),
        )
      warm = postgresAdapter({ url: DATABASE_URL }, { schema })
      await warm.open()
      await round(warm) // its first plans, made on the large table
      const times: Record<'cold' | 'warm', Record<string, number[]>> = { cold: {}, warm: {} }
      for (let i = 0; i < 6; i++) {
        for (const [label, a] of [
          ['cold', cold],
          ['warm', warm],
        ] as const) {
          for (const [name, ms] of Object.entries(await round(a))) {
            times[label][name] = [...(times[label][name] ?? []), ms]
          }
        }
      }
      const report = Object.keys(times.cold).map(
        (name) =>
          `${name}: cold ${median(times.cold[name]!).toFixed(1)} ms, warm ${median(times.warm[name]!).toFixed(1)} ms`,
      )
      for (const name of Object.keys(times.cold)) {
        // Interleaved on the same table, so machine speed cancels out; a namespace-wide scan per call was
        // 10-50x slower than the plan made on the large table.
        expect(median(times.cold[name]!), report.join('; ')).toBeLessThan(3 * median(times.warm[name]!) + 5)
      }
    } finally {
      await warm?.close()
      await admin.end({ timeout: 1 })
      await cleanup()
    }
  }, 120_000)

  test('a burst of 1,000 completions on a 100,000-job table its statistics never saw costs about what claiming them did', async () => {
    // The planner cannot size a completion's JSON input. When it joined that input to the table and believed
    // few rows would match (a table grown past its statistics: here never analyzed, as after a burst that
    // autovacuum has not caught up with), it put the table outside a nested loop and every completed row
    // scanned the whole input: a burst of 1,000 took ~0.5 s instead of ~10 ms, and a backlog drained at a
    // fifth of the rate. The completion now looks each row's input up in a JSON object instead of joining.
    const { a, schema, cleanup } = await openAdapter()
    const admin = adminSql()
    try {
      await admin.unsafe(`alter table "${schema}".jobs set (autovacuum_enabled = false)`)
      for (let i = 0; i < 100_000; i += 5_000)
        await a.broker.addBulk(
          ns,
          Array.from({ length: 5_000 }, () => newJob(q)),
        )
      const ratios: string[] = []
      for (const remove of [true, false]) {
        let t0 = performance.now()
        const got = await a.broker.claim(ns, q, { workerId: 'w', limit: 1_000, leaseMs: 60_000 })
        const claimMs = performance.now() - t0
        expect(got).toHaveLength(1_000)
        t0 = performance.now()
        const done = await Promise.all(got.map((j) => a.broker.complete(ns, j.id, j.token!, 1, { remove })))
        const completeMs = performance.now() - t0
        expect(done.every(Boolean)).toBe(true)
        ratios.push(`remove ${remove}: claim ${claimMs.toFixed(1)} ms, complete ${completeMs.toFixed(1)} ms`)
        // Linear, the completion costs about what the claim does; the nested loop cost 10-40 times a claim that
        // wrote its rows (~0.5 s). Since the claim lane (000004) the claim writes none of them and a keeping
        // completion writes every one, so it may cost a few claims, not tens.
        expect(completeMs, ratios.join('; ')).toBeLessThan(4 * claimMs + 40)
      }
    } finally {
      await admin.end({ timeout: 1 })
      await cleanup()
    }
  }, 120_000)
})
