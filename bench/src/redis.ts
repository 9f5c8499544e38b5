/**
 * OqronKit (redisAdapter) against BullMQ 6 on one Redis (issue #4), in one run:
 *  - add throughput: 5,000 single adds one after another, and 20,000 in bulks of 1,000;
 *  - processing throughput: 20,000 no-op jobs, concurrency 50, one process (ours with guaranteedWorker on),
 *    from starting the worker on a full queue to the last accepted completion;
 *  - pick-up latency of an idle worker: 1,000 single adds one after another, add() → handler start;
 *  - recovery after SIGKILL: a worker process holding a job is killed; another worker process already
 *    running picks the job up. Measured kill → handler start there, with each system's defaults and with
 *    aggressive settings (ours heartbeatMs/lockTtlMs 1000/3000; BullMQ lockDuration 3000, stalledInterval 1000).
 * Both systems use their own key prefix on 127.0.0.1:6379 (REDIS_URL may point elsewhere on loopback);
 * only those keys are deleted. Prints the machine and a Markdown table; bench/RESULTS.md keeps them.
 *
 *   pnpm --filter @oqronkit/bench bench:redis
 *   (child mode, used by the recovery benchmark: redis.ts child <ours|bullmq> <default|aggressive>)
 */
import { execFileSync, fork } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Queue, Worker } from 'bullmq'
import { OqronRuntime, queue } from 'oqronkit'
import { redisAdapter } from 'oqronkit/redis'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
if (!/^redis:\/\/(127\.0\.0\.1|localhost)[:/]/.test(`${url}/`))
  throw new Error('bench:redis runs only on 127.0.0.1')
const OURS_PREFIX = 'oqbench'
const BULL_PREFIX = 'bullbench'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const parsed = new URL(url)
// BullMQ gets connection options (it creates its own ioredis clients); ioredis is not a bench dependency.
const bullConnection = () => ({
  host: parsed.hostname,
  port: Number(parsed.port || 6379),
  maxRetriesPerRequest: null,
})

type Mode = 'default' | 'aggressive'
const AGGRESSIVE = { heartbeatMs: 1_000, lockTtlMs: 3_000, lockDuration: 3_000, stalledInterval: 1_000 }

interface System {
  name: string
  /** Starts a consumer; `handler` runs per job. Returns a stop function. */
  consume(
    q: string,
    concurrency: number,
    handler: () => Promise<void> | void,
    mode: Mode,
    onCompleted?: () => void,
  ): Promise<() => Promise<void>>
  /** A producer. */
  producer(q: string): Promise<{
    add(data: unknown): Promise<void>
    addBulk(data: unknown[]): Promise<void>
    close(): Promise<void>
  }>
}

const ours: System = {
  name: 'OqronKit (redisAdapter)',
  async consume(q, concurrency, handler, mode, onCompleted) {
    const rt = new OqronRuntime()
    queue({
      name: q,
      runtime: rt,
      concurrency,
      guaranteedWorker: true,
      removeOnComplete: true,
      ...(mode === 'aggressive'
        ? { heartbeatMs: AGGRESSIVE.heartbeatMs, lockTtlMs: AGGRESSIVE.lockTtlMs }
        : {}),
      handler: async () => {
        await handler()
      },
    })
    if (onCompleted) rt.on('completed', onCompleted)
    await rt.init({
      adapters: redisAdapter({ url }, { prefix: OURS_PREFIX }),
      logger: quiet,
      shutdown: { signals: false },
    })
    return () => rt.stop()
  },
  async producer(q) {
    const rt = new OqronRuntime()
    const handle = queue({ name: q, runtime: rt, removeOnComplete: true })
    await rt.init({
      adapters: redisAdapter({ url }, { prefix: OURS_PREFIX }),
      logger: quiet,
      shutdown: { signals: false },
    })
    return {
      add: async (data) => {
        await handle.add(data as object)
      },
      addBulk: async (list) => {
        await handle.addBulk(list.map((data) => ({ data: data as object })))
      },
      close: () => rt.stop(),
    }
  },
}

const bullmq: System = {
  name: 'BullMQ 6',
  async consume(q, concurrency, handler, mode, onCompleted) {
    const connection = bullConnection()
    const worker = new Worker(
      q,
      async () => {
        await handler()
      },
      {
        connection,
        prefix: BULL_PREFIX,
        concurrency,
        ...(mode === 'aggressive'
          ? { lockDuration: AGGRESSIVE.lockDuration, stalledInterval: AGGRESSIVE.stalledInterval }
          : {}),
      },
    )
    if (onCompleted) worker.on('completed', onCompleted)
    worker.on('error', () => {})
    await worker.waitUntilReady()
    return async () => {
      await worker.close()
    }
  },
  async producer(q) {
    const connection = bullConnection()
    const bq = new Queue(q, { connection, prefix: BULL_PREFIX })
    const opts = { removeOnComplete: true }
    return {
      add: async (data) => {
        await bq.add('job', data, opts)
      },
      addBulk: async (list) => {
        await bq.addBulk(list.map((data) => ({ name: 'job', data, opts })))
      },
      close: async () => {
        await bq.close()
      },
    }
  },
}

const systems = { ours, bullmq }

/** Deletes our own keys only (SCAN + UNLINK on the two prefixes), never FLUSHALL. */
async function cleanup(): Promise<void> {
  // BullMQ's own client serves as the admin connection.
  const holder = new Queue('cleanup', { connection: bullConnection(), prefix: BULL_PREFIX })
  // The backend's client is an ioredis instance; its published type is a narrower interface.
  const admin = (await holder.backend.client) as unknown as {
    scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>
    unlink(...keys: string[]): Promise<number>
  }
  for (const prefix of [OURS_PREFIX, BULL_PREFIX]) {
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await admin.unlink(...keys)
    } while (cursor !== '0')
  }
  await holder.close()
}

async function addThroughput(system: System, single: number, bulk: number) {
  const p = await system.producer('add')
  let t0 = performance.now()
  for (let i = 0; i < single; i++) await p.add({ i })
  const singleRate = single / ((performance.now() - t0) / 1_000)
  t0 = performance.now()
  for (let i = 0; i < bulk; i += 1_000) {
    await p.addBulk(Array.from({ length: Math.min(1_000, bulk - i) }, (_, n) => ({ i: i + n })))
  }
  const bulkRate = bulk / ((performance.now() - t0) / 1_000)
  await p.close()
  return { singleRate, bulkRate }
}

async function processing(system: System, total: number): Promise<number> {
  const q = `proc-${total}`
  const p = await system.producer(q)
  for (let i = 0; i < total; i += 1_000) {
    await p.addBulk(Array.from({ length: Math.min(1_000, total - i) }, (_, n) => ({ i: i + n })))
  }
  await p.close()
  let done = 0
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  const t0 = performance.now()
  const stop = await system.consume(
    q,
    50,
    () => {},
    'default',
    () => {
      if (++done === total) finish()
    },
  )
  await finished
  const seconds = (performance.now() - t0) / 1_000
  await stop()
  return total / seconds
}

async function pickup(system: System, count: number) {
  const samples: number[] = []
  let addedAt = 0
  let next: () => void = () => {}
  const stop = await system.consume(
    'latency',
    1,
    () => {
      samples.push(performance.now() - addedAt)
      next()
    },
    'default',
  )
  const p = await system.producer('latency')
  await new Promise((r) => setTimeout(r, 200))
  for (let n = 0; n < count; n++) {
    // Let the worker go idle (waiting for a wake-up) before each add.
    await new Promise((r) => setTimeout(r, 1))
    const started = new Promise<void>((r) => (next = r))
    addedAt = performance.now()
    await p.add({ n })
    await started
  }
  await p.close()
  await stop()
  samples.sort((a, b) => a - b)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { p50: at(0.5), p99: at(0.99) }
}

/** A worker process: reports `ready`, then each handler start, and holds its job until it is killed. */
async function child(id: keyof typeof systems, mode: Mode): Promise<void> {
  await systems[id].consume(
    'recovery',
    1,
    async () => {
      process.send?.({ type: 'started', at: Date.now() })
      await new Promise(() => {})
    },
    mode,
  )
  process.send?.({ type: 'ready' })
  process.on('disconnect', () => process.exit(0))
}

function spawn(id: string, mode: Mode) {
  const proc = fork(fileURLToPath(import.meta.url), ['child', id, mode], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const started: number[] = []
  const ready = new Promise<void>((resolve) =>
    proc.on('message', (m: { type: string; at?: number }) => {
      if (m.type === 'ready') resolve()
      if (m.type === 'started') started.push(m.at!)
    }),
  )
  return { proc, started, ready }
}

async function recovery(id: keyof typeof systems, mode: Mode): Promise<number> {
  await cleanup()
  const a = spawn(id, mode)
  await a.ready
  const p = await systems[id].producer('recovery')
  await p.add({ hold: true })
  while (a.started.length === 0) await new Promise((r) => setTimeout(r, 20))
  const b = spawn(id, mode)
  await b.ready
  const killedAt = Date.now()
  a.proc.kill('SIGKILL')
  const deadline = Date.now() + 180_000
  while (b.started.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  b.proc.kill('SIGKILL')
  await p.close()
  if (b.started.length === 0) throw new Error(`${id}/${mode}: no recovery within 180 s`)
  return b.started[0]! - killedAt
}

function machine(): string {
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' })
    } catch {
      return ''
    }
  }
  const model =
    sh('lscpu', [])
      .match(/Model name:\s*(.+)/)?.[1]
      ?.trim() ?? cpus()[0]?.model
  const redis = sh('redis-server', ['--version']).match(/v=(\S+)/)?.[1] ?? 'unknown'
  return `${model}, nproc ${sh('nproc', []).trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, redis-server ${redis}`
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] as keyof typeof systems, process.argv[4] as Mode)
} else {
  const fmt = (n: number) => Math.round(n).toLocaleString('en')
  console.log(`machine: ${machine()}`)
  const only = process.env.BENCH_ONLY // e.g. "processing" to re-run one part while profiling
  const cells: Record<string, Record<string, string>> = { ours: {}, bullmq: {} }
  const ids = (
    process.env.BENCH_SYSTEM ? [process.env.BENCH_SYSTEM] : ['ours', 'bullmq']
  ) as (keyof typeof systems)[]
  const runs = (phase: string) => !only || only === phase
  for (const id of ids) {
    await cleanup()
    if (runs('add')) {
      const add = await addThroughput(systems[id], 5_000, 20_000)
      cells[id]!.single = fmt(add.singleRate)
      cells[id]!.bulk = fmt(add.bulkRate)
      console.error(`${id} add: ${fmt(add.singleRate)} / ${fmt(add.bulkRate)} jobs/s`)
    }
  }
  if (runs('processing')) {
    // The systems take turns, BENCH_ROUNDS rounds (default 3), each after a warm-up of its own: a shared
    // machine drifts by tens of percent over a minute, so one run each would compare two different moments.
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
    const rates: Record<string, number[]> = { ours: [], bullmq: [] }
    for (const id of ids) {
      await cleanup()
      await processing(systems[id], 2_000)
    }
    for (let round = 0; round < rounds; round++) {
      for (const id of ids) {
        await cleanup()
        const rate = await processing(systems[id], 20_000)
        rates[id]!.push(rate)
        console.error(`${id} processing, round ${round + 1}: ${fmt(rate)} jobs/s`)
      }
    }
    for (const id of ids) {
      const sorted = [...rates[id]!].sort((a, b) => a - b)
      const median = sorted[sorted.length >> 1]!
      cells[id]!.processing = `${fmt(median)} jobs/s (median; runs ${rates[id]!.map(fmt).join(', ')})`
      console.error(`${id} processing: ${fmt(median)} jobs/s median`)
    }
    if (ids.length === 2) {
      const ratios = rates.ours!.map((r, i) => r / rates.bullmq![i]!)
      console.error(`processing, ours / BullMQ per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}`)
    }
  }
  for (const id of ids) {
    const system = systems[id]
    await cleanup()
    if (runs('pickup')) {
      const lat = await pickup(system, 1_000)
      cells[id]!.pickup = `${lat.p50.toFixed(2)} / ${lat.p99.toFixed(2)} ms`
      console.error(`${id} pick-up: ${lat.p50.toFixed(2)} / ${lat.p99.toFixed(2)} ms`)
    }
    if (runs('recovery')) {
      for (const mode of ['default', 'aggressive'] as const) {
        const ms = await recovery(id, mode)
        cells[id]![mode] = `${fmt(ms)} ms`
        console.error(`${id} recovery (${mode}): ${fmt(ms)} ms`)
      }
    }
    await cleanup()
  }
  const columns = ['single', 'bulk', 'processing', 'pickup', 'default', 'aggressive']
  const row = (id: string) => columns.map((c) => cells[id]![c] ?? '—').join(' | ')
  console.log('')
  console.log(
    '| system | add, single (jobs/s) | add, bulk of 1,000 (jobs/s) | processing, 20,000 no-op jobs, concurrency 50 | pick-up p50 / p99 | recovery after SIGKILL, defaults | recovery, aggressive |',
  )
  console.log('|---|---|---|---|---|---|---|')
  for (const id of ids) console.log(`| ${systems[id].name} | ${row(id)} |`)
  process.exit(0)
}
