/**
 * PostgreSQL benchmarks (issue #5): OqronKit against Graphile Worker, BullMQ's PostgreSQL backend,
 * pg-boss 10 and pg-boss 12, on the same PostgreSQL at 127.0.0.1, each system in its own database.
 *  - add throughput: 5,000 single adds (50 in flight) and 20,000 jobs in bulk calls of 1,000, after an untimed
 *    warm-up of 200 single adds and as many bulks of 1,000;
 *  - processing throughput: 20,000 no-op jobs already queued, one consumer process at concurrency 50,
 *    consumer start → the 20,000th handler call;
 *  - pick-up latency of an idle worker: single adds one after another, add() call → handler start;
 *  - recovery after SIGKILL: a worker process holding a job is killed, another one already running
 *    takes it over; kill → handler start there (only where the documented bound is under two minutes).
 * Prints the machine and a Markdown table; bench/RESULTS.md keeps them. Run:
 *   pnpm --filter @oqronkit/bench bench:postgres     (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432)
 * BENCH_SYSTEMS=oqronkit,graphile limits the systems; BENCH_PHASES=processing (a comma list of add,
 * processing, latency, recovery) limits the phases, skipped ones print as "—".
 */
import { execFileSync, fork } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { postgresAdapter } from 'oqronkit/postgres'
import { type Handler, type System, systems } from './postgres-systems.js'

const BASE = (process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/[^/:@]*$/, '')
if (new URL(`${BASE}/postgres`).hostname !== '127.0.0.1') {
  throw new Error(`BENCH_PG_URL must point at 127.0.0.1, got ${BASE}`)
}
const dbUrl = (db: string) => `${BASE}/${db}`
const only = process.env.BENCH_SYSTEMS?.split(',')
const phases = process.env.BENCH_PHASES?.split(',')
const runs = (phase: string) => !phases || phases.includes(phase)
const TOTAL = Number(process.env.BENCH_JOBS ?? 20_000)
const CONCURRENCY = 50

// Dropping a system's database between phases terminates connections its clients may still keep in a
// pool (57P01 "terminating connection due to administrator command"); node-postgres pools emit that as an
// 'error' nobody listens to any more. Anything else still crashes the run.
process.on('uncaughtException', (error: Error & { code?: string }) => {
  if (error.code === '57P01') return
  console.error(error)
  process.exit(1)
})

const admin = postgresAdapter({ url: dbUrl('postgres') }, { max: 1 })

async function freshDatabase(system: System): Promise<string> {
  const name = `oqbench_${system.id}`
  await admin.sql.unsafe(`drop database if exists ${name} with (force)`)
  await admin.sql.unsafe(`create database ${name}`)
  const url = dbUrl(name)
  await system.prepare(url)
  return url
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

async function inFlight(count: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await task(next++)
    }),
  )
}

async function addThroughput(system: System, url: string): Promise<{ single: number; bulk: number }> {
  const producer = await system.producer(url)
  try {
    await inFlight(200, 50, (n) => producer.add('warm', { n })) // connections, prepared statements, queue rows
    // As many bulks as the timed ones: sequential calls go round a pool's connections, and each server backend
    // pays for its first run of a statement (catalog lookups, planning; ~40 ms for OqronKit's bulk insert on a
    // fresh connection), so 20 timed calls over a 10-connection pool measured mostly first runs. Every system
    // gets the same; not timed.
    for (let w = 0; w < TOTAL / 1_000; w++)
      await producer.addBulk(
        'warm',
        Array.from({ length: 1_000 }, (_, k) => ({ n: k })),
      )
    const singles = 5_000
    let t0 = performance.now()
    await inFlight(singles, 50, (n) => producer.add('add-single', { n }))
    const single = singles / ((performance.now() - t0) / 1_000)
    t0 = performance.now()
    for (let i = 0; i < TOTAL; i += 1_000)
      await producer.addBulk(
        'add-bulk',
        Array.from({ length: 1_000 }, (_, k) => ({ n: i + k })),
      )
    const bulk = TOTAL / ((performance.now() - t0) / 1_000)
    return { single, bulk }
  } finally {
    await producer.close()
  }
}

async function processing(
  system: System,
  url: string,
  capMs: number,
): Promise<{ rate: number; done: number; ms: number }> {
  const producer = await system.producer(url)
  for (let i = 0; i < TOTAL; i += 1_000)
    await producer.addBulk(
      'tp',
      Array.from({ length: 1_000 }, (_, k) => ({ n: i + k })),
    )
  await producer.close()
  let done = 0
  let last = 0
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  const handler: Handler = () => {
    last = performance.now()
    if (++done === TOTAL) finish()
  }
  const t0 = performance.now()
  const consumer = await system.consumer(url, 'tp', CONCURRENCY, handler)
  await Promise.race([finished, sleep(capMs)])
  const ms = (done === TOTAL ? last : performance.now()) - t0
  await consumer.stop()
  return { rate: done / (ms / 1_000), done, ms }
}

async function latency(system: System, url: string, samples: number): Promise<{ p50: number; p99: number }> {
  const producer = await system.producer(url)
  const addedAt = new Map<number, number>()
  const took: number[] = []
  let started: (() => void) | null = null
  const consumer = await system.consumer(url, 'lat', CONCURRENCY, ({ n }) => {
    if (n >= 0) took.push(performance.now() - addedAt.get(n)!)
    started?.()
  })
  try {
    for (let n = -20; n < samples; n++) {
      await sleep(5) // the worker is idle again, parked on its wake-up
      const seen = new Promise<void>((resolve, reject) => {
        started = resolve
        setTimeout(() => reject(new Error(`${system.id}: job ${n} not picked up in 30 s`)), 30_000).unref()
      })
      addedAt.set(n, performance.now())
      await producer.add('lat', { n })
      await seen
    }
  } finally {
    await consumer.stop()
    await producer.close()
  }
  took.sort((a, b) => a - b)
  return { p50: quantile(took, 0.5), p99: quantile(took, 0.99) }
}

interface ChildMessage {
  type: 'ready' | 'started'
  at: number
}

function startChild(system: System, url: string, name: string) {
  const child = fork(
    fileURLToPath(new URL('./postgres-recovery-child.ts', import.meta.url)),
    [system.id, url, name],
    {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  )
  const messages: ChildMessage[] = []
  const waiters: (() => void)[] = []
  child.on('message', (m: ChildMessage) => {
    messages.push(m)
    for (const w of waiters.splice(0)) w()
  })
  const waitFor = (type: ChildMessage['type'], timeoutMs: number) =>
    new Promise<ChildMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no ${type} in ${timeoutMs} ms`)), timeoutMs)
      const check = () => {
        const hit = messages.find((m) => m.type === type)
        if (hit) {
          clearTimeout(timer)
          resolve(hit)
        } else waiters.push(check)
      }
      check()
    })
  return { child, waitFor }
}

async function recovery(system: System, url: string): Promise<number> {
  const a = startChild(system, url, 'A')
  let b: ReturnType<typeof startChild> | null = null
  try {
    await a.waitFor('ready', 60_000)
    const producer = await system.producer(url)
    await producer.add('rec', { n: 1 })
    await producer.close()
    await a.waitFor('started', 30_000)
    b = startChild(system, url, 'B')
    await b.waitFor('ready', 60_000)
    await sleep(500)
    const killedAt = Date.now()
    a.child.kill('SIGKILL')
    const { at } = await b.waitFor('started', 150_000)
    return at - killedAt
  } finally {
    a.child.kill('SIGKILL')
    b?.child.kill('SIGKILL')
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en')

function machine(): string {
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim()
    } catch {
      return '?'
    }
  }
  const model = sh('lscpu', []).match(/Model name:\s*(.+)/)?.[1] ?? cpus()[0]?.model
  return `${model}, nproc ${sh('nproc', [])}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
}

const rows: string[] = []
const [{ version }] = (await admin.sql.unsafe('select version()')) as unknown as [{ version: string }]
console.log(`machine: ${machine()}`)
console.log(`server: ${version}`)
for (const system of systems.filter((s) => !only || only.includes(s.id))) {
  console.error(`— ${system.label}`)
  let addSingle = '—'
  let addBulk = '—'
  if (runs('add')) {
    const adds = await addThroughput(system, await freshDatabase(system))
    addSingle = fmt(adds.single)
    addBulk = fmt(adds.bulk)
    console.error(`  add: single ${addSingle}/s, bulk ${addBulk}/s`)
  }
  let tpText = '—'
  if (runs('processing')) {
    const tp = await processing(system, await freshDatabase(system), 60_000)
    tpText =
      tp.done === TOTAL
        ? `${fmt(tp.rate)} jobs/s`
        : `${fmt(tp.rate)} jobs/s (${fmt(tp.done)} of ${fmt(TOTAL)} in ${fmt(tp.ms / 1_000)} s, stopped)`
    console.error(`  processing: ${tpText}`)
  }
  let latText = '—'
  if (runs('latency')) {
    const samples = system.id === 'pgboss10' ? 100 : 1_000
    const lat = await latency(system, await freshDatabase(system), samples)
    latText = `${lat.p50.toFixed(2)} / ${lat.p99.toFixed(2)} ms${samples === 1_000 ? '' : ` (${samples} adds)`}`
    console.error(`  pick-up p50/p99: ${latText}`)
  }
  let recText = `— (${system.recoveryDefault})`
  if (system.measureRecovery && runs('recovery')) {
    const url = await freshDatabase(system)
    const ms = await recovery(system, url)
    recText = `${fmt(ms)} ms (${system.recoveryDefault})`
  }
  console.error(`  recovery: ${recText}`)
  rows.push(`| ${system.label} | ${addSingle} | ${addBulk} | ${tpText} | ${latText} | ${recText} |`)
  await admin.sql.unsafe(`drop database if exists oqbench_${system.id} with (force)`)
}

console.log('')
console.log(
  '| system | add, single (jobs/s) | add, bulk of 1,000 (jobs/s) | processing, 20,000 no-op jobs, concurrency 50 | pick-up p50 / p99 (idle worker) | recovery after SIGKILL (kill → start elsewhere) |',
)
console.log('|---|---|---|---|---|---|')
for (const row of rows) console.log(row)
console.log('')
console.log('Settings:')
for (const s of systems.filter((s) => !only || only.includes(s.id)))
  console.log(`- ${s.label}: ${s.settings}`)
await admin.close()
process.exit(0)
