/**
 * Memory-adapter benchmarks (issue #2):
 *  - throughput: 100,000 no-op jobs through one queue at concurrency 50, guaranteedWorker on and off;
 *  - pick-up latency: an idle worker, 1,000 single adds one after another, add() → handler start.
 * Prints a Markdown table; `bench/RESULTS.md` keeps the figures with the machine they came from.
 */
import { cpus, totalmem } from 'node:os'
import { memoryAdapter, OqronRuntime, queue } from 'oqronkit'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

async function throughput(total: number, guaranteedWorker: boolean): Promise<number> {
  const rt = new OqronRuntime()
  let done = 0
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  const q = queue({
    name: `tp-${guaranteedWorker}`,
    runtime: rt,
    concurrency: 50,
    guaranteedWorker,
    removeOnComplete: true,
    handler: async () => {
      if (++done === total) finish()
    },
  })
  await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
  await q.pause()
  for (let i = 0; i < total; i += 1_000) {
    await q.addBulk(Array.from({ length: Math.min(1_000, total - i) }, (_, n) => ({ data: { n: i + n } })))
  }
  const t0 = performance.now()
  await q.resume()
  await finished
  const seconds = (performance.now() - t0) / 1_000
  await rt.stop()
  return total / seconds
}

async function pickupLatency(count: number): Promise<{ p50: number; p99: number; mean: number }> {
  const rt = new OqronRuntime()
  const addedAt = new Map<number, number>()
  const samples: number[] = []
  let next!: () => void
  const q = queue<{ n: number }>({
    name: 'latency',
    runtime: rt,
    removeOnComplete: true,
    handler: async (ctx) => {
      samples.push(performance.now() - addedAt.get(ctx.data.n)!)
      next()
    },
  })
  await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
  for (let n = 0; n < count; n++) {
    // Let the worker go idle (parked in waitForWork) before each add.
    await new Promise((r) => setTimeout(r, 1))
    const started = new Promise<void>((r) => (next = r))
    addedAt.set(n, performance.now())
    await q.add({ n })
    await started
  }
  await rt.stop()
  samples.sort((a, b) => a - b)
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length }
}

const total = Number(process.env.BENCH_JOBS ?? 100_000)
console.log(
  `machine: ${cpus()[0]?.model} × ${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
)
await throughput(5_000, true) // warm-up
const on = await throughput(total, true)
const off = await throughput(total, false)
const lat = await pickupLatency(1_000)
console.log('')
console.log('| benchmark | result |')
console.log('|---|---|')
console.log(
  `| throughput, ${total.toLocaleString('en')} no-op jobs, concurrency 50, guaranteedWorker on | ${Math.round(on).toLocaleString('en')} jobs/s |`,
)
console.log(
  `| throughput, ${total.toLocaleString('en')} no-op jobs, concurrency 50, guaranteedWorker off | ${Math.round(off).toLocaleString('en')} jobs/s |`,
)
console.log(
  `| pick-up latency, idle worker, 1,000 single adds | p50 ${lat.p50.toFixed(3)} ms, p99 ${lat.p99.toFixed(3)} ms, mean ${lat.mean.toFixed(3)} ms |`,
)
