/**
 * Adapter-level drain: 20,000 no-op jobs through claim + complete with 50 slots in one process, and the
 * pick-up latency of an idle waiter. Not the engine benchmark (bench/ does that against pg-boss and
 * Graphile Worker); a floor for what the adapter's statements allow on this machine.
 *   pnpm --filter @oqronkit/postgres build && node --import tsx packages/postgres/scripts/drain.ts
 */
import { postgresAdapter } from '../dist/index.js'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const schema = `oqd_${Date.now().toString(36)}`
const a = postgresAdapter({ url }, { schema, max: 10 })
const N = 20_000
const SLOTS = 50
const WORKERS = 5 // claimers, each with SLOTS / WORKERS slots, claiming in batches
const job = (i: number) => ({
  id: `j${i}`,
  queue: 'q',
  data: { i },
  delayMs: 0,
  priority: 0,
  lifo: false,
  maxAttempts: 1,
  guaranteed: true,
  disabledBehavior: 'hold' as const,
})
try {
  await a.open()
  let t0 = performance.now()
  for (let i = 0; i < N; i += 1000)
    await a.broker.addBulk(
      'b',
      Array.from({ length: 1000 }, (_, k) => job(i + k)),
    )
  console.log(`addBulk: ${Math.round(N / ((performance.now() - t0) / 1000))} jobs/s`)
  t0 = performance.now()
  let done = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      const slots = SLOTS / WORKERS
      for (;;) {
        const got = await a.broker.claim('b', 'q', { workerId: `w${w}`, limit: slots, leaseMs: 30_000 })
        if (got.length === 0) return
        await Promise.all(got.map((j) => a.broker.complete('b', j.id, j.token!, null)))
        done += got.length
      }
    }),
  )
  console.log(
    `drain: ${done} jobs in ${Math.round(performance.now() - t0)} ms = ${Math.round(done / ((performance.now() - t0) / 1000))} jobs/s`,
  )
  const lat: number[] = []
  const ac = new AbortController()
  for (let i = 0; i < 200; i++) {
    await a.broker.claim('b', 'idle', { workerId: 'w', limit: 1, leaseMs: 1000 })
    const waiting = a.broker.waitForWork('b', 'idle', 5000, ac.signal)
    await new Promise((r) => setTimeout(r, 5))
    const t = performance.now()
    await a.broker.add('b', { ...job(N + i), queue: 'idle' })
    await waiting
    const [j] = await a.broker.claim('b', 'idle', { workerId: 'w', limit: 1, leaseMs: 1000 })
    lat.push(performance.now() - t)
    await a.broker.complete('b', j!.id, j!.token!, null)
  }
  lat.sort((x, y) => x - y)
  console.log(`add → wake → claimed: p50 ${lat[100]!.toFixed(2)} ms, p99 ${lat[198]!.toFixed(2)} ms`)
} finally {
  await a.sql.unsafe(`drop schema if exists "${schema}" cascade`)
  await a.close()
}
