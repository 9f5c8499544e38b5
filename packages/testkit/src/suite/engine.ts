import assert from 'node:assert/strict'
import {
  FreezableTimers,
  JobCancelledError,
  type JobContext,
  type JobHandler,
  type OqronAdapters,
  OqronManager,
  OqronRuntime,
  resolveWorkOptions,
  type TimerHost,
  type WorkOptions,
} from '@oqronkit/core'
import type { CheckContext, ContractCheck } from '../types.js'
import { randomId, sleep, waitUntil } from '../util.js'

/** The adapter set as a runtime sees it: the check owns open/close, so the runtime's close() is a no-op. */
function view(adapters: OqronAdapters): OqronAdapters {
  return {
    name: adapters.name,
    storage: adapters.storage,
    broker: adapters.broker,
    lock: adapters.lock,
    close: async () => {},
  }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} }

interface Node {
  runtime: OqronRuntime
  name: string
}

/** Start a runtime over the check's adapters (or its peer) consuming the check's queue. */
async function startNode(
  t: CheckContext,
  name: string,
  handler: JobHandler,
  work: WorkOptions,
  options: { usePeer?: boolean; timers?: TimerHost; timeoutMs?: number } = {},
): Promise<Node> {
  const adapters = options.usePeer ? await t.peer() : t.adapters
  const runtime = new OqronRuntime()
  const [project, environment] = t.ns.split('/') as [string, string]
  await runtime.init({
    adapters: view(adapters),
    project,
    environment,
    workerId: name,
    logger: silent,
    pollIntervalMs: 1_000,
    shutdown: { signals: false, timeoutMs: options.timeoutMs ?? 5_000 },
    ...(options.timers ? { timers: options.timers } : {}),
  })
  t.defer(() => runtime.stop())
  runtime.addConsumer({
    kind: 'testkit',
    name: t.queue,
    queue: t.queue,
    handler,
    options: resolveWorkOptions(`testkit ${name}`, work, {}, () => {}),
  })
  return { runtime, name }
}

function enqueue(t: CheckContext, node: Node, jobId: string, data: unknown = null) {
  return node.runtime.enqueue(
    t.queue,
    data,
    { jobId },
    { maxAttempts: 5, guaranteed: true, disabledBehavior: 'hold' },
  )
}

function waitForAbort(ctx: JobContext): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) resolve()
    ctx.signal.addEventListener('abort', () => resolve(), { once: true })
  })
}

export const engineChecks: ContractCheck[] = [
  {
    id: 'engine.exactly-once',
    title: 'N runtimes consuming M jobs over these adapters run every job exactly once',
    timeoutMs: 120_000,
    async run(t) {
      const runs = new Map<string, string[]>()
      const handler: JobHandler = async (ctx) => {
        runs.set(ctx.id, [...(runs.get(ctx.id) ?? []), ctx.job.workerId ?? '?'])
        await sleep(Math.floor(Math.random() * 15))
        return { ok: ctx.id }
      }
      const work: WorkOptions = { concurrency: 4, heartbeatMs: 2_000, lockTtlMs: 20_000 }
      const nodes: Node[] = []
      for (let i = 0; i < 3; i++) {
        const node = await startNode(t, `node-${i}`, handler, work, { usePeer: i % 2 === 1 })
        nodes.push(node)
      }
      const total = 60
      const ids = Array.from({ length: total }, (_, i) => `job-${i}-${randomId()}`)
      await Promise.all(ids.map((id, i) => enqueue(t, nodes[i % nodes.length]!, id, { i })))
      await waitUntil(async () => (await t.adapters.storage.countJobs(t.ns, t.queue)).completed === total, {
        timeoutMs: 60_000,
        what: `all ${total} jobs to complete`,
      })
      for (const id of ids)
        assert.equal(runs.get(id)?.length, 1, `job ${id} ran ${runs.get(id)?.length ?? 0} times`)
      const used = new Set([...runs.values()].flat())
      assert.ok(used.size >= 1, 'jobs ran')
      for (const node of nodes)
        assert.equal(node.runtime.staleWrites, 0, `${node.name} made no rejected write`)
    },
  },
  {
    id: 'engine.frozen-runtime',
    title:
      'a frozen runtime loses its job to another within lockTtlMs + scan delay, and its late completion is rejected',
    timeoutMs: 90_000,
    async run(t) {
      const lockTtlMs = 900
      const work: WorkOptions = { heartbeatMs: 150, lockTtlMs, stallIntervalMs: 150, concurrency: 1 }
      const frozen = new FreezableTimers()
      let releaseA!: () => void
      const holdA = new Promise<void>((resolve) => {
        releaseA = resolve
      })
      const starts: { node: string; at: number; attempt: number }[] = []
      const a = await startNode(
        t,
        'A',
        async (ctx) => {
          starts.push({ node: 'A', at: Date.now(), attempt: ctx.attempt })
          await holdA
          return { by: 'A' }
        },
        work,
        { timers: frozen },
      )
      // If the check fails half-way, A must not stay frozen: its stop() waits on its own timers.
      t.defer(() => {
        frozen.thaw()
        releaseA()
      })
      const id = randomId('frozen')
      await enqueue(t, a, id)
      await waitUntil(() => starts.length === 1, { what: 'runtime A to start the job' })
      frozen.freeze()
      const frozenAt = Date.now()
      const b = await startNode(
        t,
        'B',
        async (ctx) => {
          starts.push({ node: 'B', at: Date.now(), attempt: ctx.attempt })
          return { by: 'B' }
        },
        work,
        { usePeer: true },
      )
      const done = await waitUntil(
        async () => {
          const job = await t.adapters.storage.getJob(t.ns, id)
          return job?.status === 'completed' ? job : null
        },
        { timeoutMs: 30_000, what: 'runtime B to recover and complete the job of frozen runtime A' },
      )
      const recoveredAt = starts.find((s) => s.node === 'B')!.at
      assert.ok(recoveredAt - frozenAt >= 0)
      assert.deepEqual(done.result, { by: 'B' })
      assert.equal(done.stalledCount, 1, 'the recovery is recorded on the job')
      assert.ok(
        done.timeline.some((e) => e.event === 'stalled'),
        'a `stalled` entry is written',
      )
      const lost = new Promise<string>((resolve) => a.runtime.once('lease-lost', (e) => resolve(e.reason)))
      releaseA()
      frozen.thaw()
      await lost
      assert.ok(a.runtime.staleWrites >= 1, "A's late completion is counted as a rejected (stale) write")
      const final = await t.adapters.storage.getJob(t.ns, id)
      assert.deepEqual(final?.result, { by: 'B' }, 'the zombie never overwrites the re-run result')
      assert.deepEqual(
        starts.map((s) => s.node),
        ['A', 'B'],
      )
      void b
    },
  },
  {
    id: 'engine.cancel-across-runtimes',
    title:
      'cancelJob() on one runtime aborts the handler on the runtime that runs it, and the job never runs again',
    timeoutMs: 60_000,
    async run(t) {
      const starts: string[] = []
      let reason: unknown = null
      const work: WorkOptions = { heartbeatMs: 200, lockTtlMs: 2_000, concurrency: 1 }
      // Both nodes consume, so "never runs again" covers every node; whichever takes the job, the cancel
      // is sent from the other one.
      const handler = (node: string) => async (ctx: JobContext) => {
        starts.push(node)
        await waitForAbort(ctx)
        reason = ctx.signal.reason
      }
      const a = await startNode(t, 'A', handler('A'), work)
      const b = await startNode(t, 'B', handler('B'), { ...work }, { usePeer: true })
      const id = randomId('cancel')
      await enqueue(t, a, id)
      await waitUntil(() => starts.length === 1, { what: 'a runtime to start the job' })
      const other = starts[0] === 'A' ? b : a
      assert.equal(await OqronManager.from(other.runtime.getConfig()).cancelJob(id), true)
      await waitUntil(() => reason !== null, {
        timeoutMs: 10_000,
        what: "the running handler's signal to abort",
      })
      assert.ok(reason instanceof JobCancelledError, `aborted with ${String(reason)}`)
      await sleep(600)
      assert.equal(starts.length, 1, 'a cancelled job never runs again')
      assert.equal((await t.adapters.storage.getJob(t.ns, id))?.status, 'cancelled')
    },
  },
  {
    id: 'engine.graceful-release',
    title: 'stop() releases an unfinished job so another runtime takes it at once, not after lockTtlMs',
    timeoutMs: 60_000,
    async run(t) {
      const starts: { node: string; attempt: number }[] = []
      const work: WorkOptions = { heartbeatMs: 1_000, lockTtlMs: 60_000, concurrency: 1 }
      const a = await startNode(
        t,
        'A',
        async (ctx) => {
          starts.push({ node: 'A', attempt: ctx.attempt })
          await waitForAbort(ctx)
        },
        work,
        { timeoutMs: 100 },
      )
      const id = randomId('release')
      await enqueue(t, a, id)
      await waitUntil(() => starts.length === 1, { what: 'runtime A to start the job' })
      await startNode(
        t,
        'B',
        async (ctx) => {
          starts.push({ node: 'B', attempt: ctx.attempt })
        },
        work,
        { usePeer: true },
      )
      await a.runtime.stop()
      await waitUntil(() => starts.length === 2, {
        timeoutMs: 20_000,
        what: 'runtime B to take the released job',
      })
      assert.deepEqual(starts[1], { node: 'B', attempt: 1 }, 'the released attempt is not counted')
    },
  },
  {
    id: 'engine.prefetch',
    title:
      'prefetch: jobs claimed ahead wait leased for a slot, stop() gives them back unstarted, another runtime runs each once',
    timeoutMs: 60_000,
    async run(t) {
      const starts: { node: string; id: string; attempt: number }[] = []
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const first = randomId('first')
      // Room for four ahead: the loop claims again whenever at least half of it (two) is free, so the three
      // jobs added one by one are all claimed ahead.
      const work: WorkOptions = { heartbeatMs: 1_000, lockTtlMs: 60_000, concurrency: 1, prefetch: 4 }
      const a = await startNode(
        t,
        'A',
        async (ctx) => {
          starts.push({ node: 'A', id: ctx.id, attempt: ctx.attempt })
          if (ctx.id === first) await gate
        },
        work,
        { timeoutMs: 10_000 },
      )
      await enqueue(t, a, first)
      await waitUntil(() => starts.length === 1, { what: 'runtime A to start the first job' })
      const ahead = [1, 2, 3].map((i) => randomId(`ahead-${i}`))
      for (const id of ahead) await enqueue(t, a, id)
      await waitUntil(
        async () => {
          for (const id of ahead)
            if ((await t.adapters.storage.getJob(t.ns, id))?.status !== 'active') return false
          return true
        },
        { timeoutMs: 10_000, what: 'runtime A to claim the three jobs ahead' },
      )
      assert.equal(starts.length, 1, 'jobs claimed ahead do not start while the only slot is busy')
      const stopping = a.runtime.stop()
      await waitUntil(
        async () => {
          for (const id of ahead) {
            const job = await t.adapters.storage.getJob(t.ns, id)
            if (job?.status !== 'waiting' || job.attempts !== 0) return false
          }
          return true
        },
        { timeoutMs: 5_000, what: 'stop() to give the unstarted jobs back, attempts not counted' },
      )
      assert.equal((await t.adapters.storage.getJob(t.ns, first))?.status, 'active', 'the running job drains')
      release()
      await stopping
      assert.equal((await t.adapters.storage.getJob(t.ns, first))?.status, 'completed')
      await startNode(
        t,
        'B',
        async (ctx) => {
          starts.push({ node: 'B', id: ctx.id, attempt: ctx.attempt })
        },
        { ...work, concurrency: 2 },
        { usePeer: true },
      )
      await waitUntil(async () => (await t.adapters.storage.countJobs(t.ns, t.queue)).completed === 4, {
        timeoutMs: 20_000,
        what: 'runtime B to run the released jobs',
      })
      assert.deepEqual(
        starts.slice(1).sort((x, y) => x.id.localeCompare(y.id)),
        [...ahead].sort().map((id) => ({ node: 'B', id, attempt: 1 })),
        'each released job runs once, on B, as its first attempt',
      )
    },
  },
]
