/**
 * OqronKit demo — runs on the in-memory default, no server needed:
 *   billing (heartbeat 3 s / lease 15 s), fire-and-forget analytics, a deduplicated jobId, a long job
 *   cancelled through OqronManager, a simulated node crash recovered by a second runtime whose late
 *   zombie completion is rejected, and a graceful stop.
 */
import {
  FreezableTimers,
  type JobRecord,
  memoryAdapter,
  OqronKit,
  OqronManager,
  OqronRuntime,
  queue,
} from 'oqronkit'

const t0 = Date.now()
const stamp = () => `+${String(Date.now() - t0).padStart(5)} ms`
const say = (line: string) => console.log(`${stamp()}  ${line}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function showTimeline(job: JobRecord | null) {
  if (!job) return console.log('           (no such job)')
  console.log(
    `           ${job.id}  status=${job.status}  attempts=${job.attempts}  stalled=${job.stalledCount}`,
  )
  for (const e of job.timeline) {
    const who = e.workerId ? ` [${e.workerId}]` : ''
    console.log(
      `             ${String(e.at - job.createdAt).padStart(5)} ms  ${e.event}${who}${e.detail ? `  ${e.detail}` : ''}`,
    )
  }
}

async function waitForStatus(mgr: OqronManager, id: string, status: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const job = await mgr.getJob(id)
    if (job?.status === status) return job
    if (Date.now() > deadline) throw new Error(`${id} did not become ${status}; it is ${job?.status}`)
    await sleep(20)
  }
}

// ── 1. Definitions (before init, as in a real app) ──────────────────────────────────────────────────
const billing = queue<{ invoiceId: string; amount: number }, { charged: boolean }>({
  name: 'billing',
  heartbeatMs: 3_000,
  lockTtlMs: 15_000,
  concurrency: 2,
  handler: async (ctx) => {
    await ctx.progress(50, 'charging card')
    await sleep(50)
    return { charged: true }
  },
})

const analytics = queue<{ event: string }>({
  name: 'analytics-events',
  guaranteedWorker: false,
  concurrency: 10,
  handler: async () => {},
})

const exportQueue = queue<{ rows: number }>({
  name: 'exports',
  handler: async (ctx) => {
    for (let row = 0; row < ctx.data.rows; row++) {
      if (ctx.signal.aborted) return
      await sleep(50)
      ctx.progress(((row + 1) / ctx.data.rows) * 100)
    }
  },
})

async function main() {
  const adapters = memoryAdapter()
  await OqronKit.init({ adapters, workerId: 'node-main' })
  const mgr = OqronManager.from(OqronKit.getConfig())
  console.log('OqronKit demo — in-memory adapter, no server\n')

  // ── 2. Billing ─────────────────────────────────────────────────────────────────────────────────────
  say('billing: add inv_1 (heartbeat 3 s, lease 15 s)')
  await billing.add({ invoiceId: 'inv_1', amount: 4200 }, { jobId: 'inv_1' })
  const inv = await waitForStatus(mgr, 'inv_1', 'completed')
  say(`billing: inv_1 ${inv.status}, result ${JSON.stringify(inv.result)}`)
  showTimeline(inv)

  // ── 3. Fire-and-forget ────────────────────────────────────────────────────────────────────────────
  await analytics.addBulk(Array.from({ length: 100 }, (_, n) => ({ data: { event: `click-${n}` } })))
  say('analytics: 100 events added (guaranteedWorker: false — no heartbeat, at-most-once)')
  for (;;) {
    const counts = await analytics.count()
    if (counts.completed === 100) break
    await sleep(10)
  }
  say('analytics: 100 completed')

  // ── 4. Idempotency ────────────────────────────────────────────────────────────────────────────────
  const a = await billing.add({ invoiceId: 'inv_2', amount: 100 }, { jobId: 'inv_2' })
  const b = await billing.add({ invoiceId: 'inv_2', amount: 100 }, { jobId: 'inv_2' })
  say(`idempotency: add inv_2 twice → "${a.outcome}", then "${b.outcome}" (one job)`)

  // ── 5. Cancellation ───────────────────────────────────────────────────────────────────────────────
  await exportQueue.add({ rows: 100 }, { jobId: 'export-42' })
  await sleep(200)
  say('cancel: export-42 is running; OqronManager.cancelJob("export-42")')
  await mgr.cancelJob('export-42')
  const cancelled = await mgr.getJob('export-42')
  say(`cancel: record kept with status "${cancelled!.status}", progress ${Math.round(cancelled!.progress)}%`)
  showTimeline(cancelled)

  // ── 6. A node crash ───────────────────────────────────────────────────────────────────────────────
  console.log('')
  say('crash: node A and node B share one adapter; A takes report-7 and then hangs (no more heartbeats)')
  const timersA = new FreezableTimers()
  const nodeA = new OqronRuntime()
  const nodeB = new OqronRuntime()
  let releaseA!: () => void
  let reportsOnA!: ReturnType<typeof queue>
  const aStarted = new Promise<void>((started) => {
    reportsOnA = queue({
      name: 'reports',
      heartbeatMs: 200,
      lockTtlMs: 1_000,
      runtime: nodeA,
      handler: async () => {
        started()
        await new Promise<void>((r) => (releaseA = r))
        return 'written by A (zombie)'
      },
    })
  })
  queue({
    name: 'reports',
    heartbeatMs: 200,
    lockTtlMs: 1_000,
    runtime: nodeB,
    handler: async () => 'written by B',
  })
  await nodeA.init({
    adapters,
    workerId: 'node-A',
    timers: timersA,
    shutdown: { signals: false, timeoutMs: 0 },
  })
  nodeA.on('lease-lost', (e) => say(`crash: node A's write for ${e.jobId} rejected (${e.reason}) — fenced`))
  await reportsOnA.add({ day: '2026-11-28' }, { jobId: 'report-7' })
  await aStarted
  timersA.freeze()
  const frozenAt = Date.now()
  say('crash: node A frozen; node B starts')
  await nodeB.init({ adapters, workerId: 'node-B', shutdown: { signals: false } })
  nodeB.on('stalled', (e) =>
    say(`crash: node B's stall detector found ${e.job.id} (lease expired) → ${e.action}`),
  )
  await waitForStatus(OqronManager.from(nodeB.getConfig()), 'report-7', 'completed')
  say(`crash: report-7 completed by node B ${Date.now() - frozenAt} ms after A froze (lease 1000 ms)`)
  releaseA()
  await sleep(100)
  const final = await mgr.getJob('report-7')
  say(`crash: stored result is "${final!.result}"; node A stale writes rejected: ${nodeA.staleWrites}`)
  showTimeline(final)
  await nodeA.stop()
  await nodeB.stop()

  // ── 7. Graceful stop ──────────────────────────────────────────────────────────────────────────────
  console.log('')
  say('stop: OqronKit.stop() — stop claiming, drain, release, close')
  await OqronKit.stop()
  say('stop: done; nothing keeps the process alive, it exits by itself')
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
