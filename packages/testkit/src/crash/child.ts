/**
 * The child process of the crash harness. It builds the adapters named in its `init` message, runs one or
 * more runtimes consuming one queue, and reports to the parent over IPC what its handlers and runtimes did.
 * Started by `startWorker()`; not meant to be run by hand.
 */
import { pathToFileURL } from 'node:url'
import { FreezableTimers, type OqronAdapters, OqronRuntime, resolveWorkOptions } from '@oqronkit/core'
import type { ChildAdapterConfig, ChildMessage, HarnessEvent, ParentMessage, WorkerSpec } from './protocol.js'

function send(message: ChildMessage): void {
  process.send?.(message)
}

async function buildAdapters(config: ChildAdapterConfig): Promise<OqronAdapters> {
  const url = config.module.startsWith('file:') ? config.module : pathToFileURL(config.module).href
  const mod = (await import(url)) as Record<string, unknown>
  const name = config.export ?? 'default'
  const factory = mod[name]
  if (typeof factory !== 'function') throw new Error(`${config.module} has no function export "${name}"`)
  return (await factory(config.options ?? {})) as OqronAdapters
}

const runtimes = new Map<string, { runtime: OqronRuntime; timers: FreezableTimers }>()
let currentQueue: string | null = null

function sleepOrAbort(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

async function startWorker(spec: WorkerSpec & { name: string }): Promise<void> {
  const adapters = await buildAdapters(spec.adapter)
  const work = resolveWorkOptions(
    `crash worker ${spec.name}`,
    { heartbeatMs: 200, lockTtlMs: 1_500, stallIntervalMs: 250, ...spec.work },
    {},
    () => {},
  )
  const workerIds: Record<string, string> = {}
  for (const rt of spec.runtimes ?? ['main']) {
    const timers = new FreezableTimers()
    const runtime = new OqronRuntime()
    const workerId = `${spec.name}/${rt}:${process.pid}`
    workerIds[rt] = workerId
    const stamp = { worker: spec.name, pid: process.pid, runtime: rt }
    const report = (event: HarnessEvent) => send({ type: 'harness', event })
    await runtime.init({
      adapters,
      project: spec.project ?? 'default',
      environment: spec.environment ?? 'default',
      workerId,
      timers,
      pollIntervalMs: 1_000,
      shutdown: { signals: false, timeoutMs: 2_000 },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    })
    runtime.on('completed', (e) =>
      report({ type: 'event', ...stamp, name: 'completed', jobId: e.job.id, at: Date.now(), detail: null }),
    )
    runtime.on('failed', (e) =>
      report({
        type: 'event',
        ...stamp,
        name: 'failed',
        jobId: e.job.id,
        at: Date.now(),
        detail: e.error.message,
      }),
    )
    runtime.on('retrying', (e) =>
      report({
        type: 'event',
        ...stamp,
        name: 'retrying',
        jobId: e.job.id,
        at: Date.now(),
        detail: e.error.message,
      }),
    )
    runtime.on('stalled', (e) =>
      report({ type: 'event', ...stamp, name: 'stalled', jobId: e.job.id, at: Date.now(), detail: e.action }),
    )
    runtime.on('lease-lost', (e) =>
      report({
        type: 'event',
        ...stamp,
        name: 'lease-lost',
        jobId: e.jobId,
        at: Date.now(),
        detail: e.reason,
      }),
    )
    runtime.on('cancelled', (e) =>
      report({ type: 'event', ...stamp, name: 'cancelled', jobId: e.jobId, at: Date.now(), detail: null }),
    )
    runtime.on('error', (e) =>
      report({
        type: 'event',
        ...stamp,
        name: 'error',
        jobId: null,
        at: Date.now(),
        detail: `${e.where}: ${String(e.error)}`,
      }),
    )
    runtime.addConsumer({
      kind: 'crash-harness',
      name: spec.queue,
      queue: spec.queue,
      options: work,
      handler: async (ctx) => {
        report({ type: 'started', ...stamp, jobId: ctx.id, attempt: ctx.attempt, at: Date.now() })
        const data = (ctx.data ?? {}) as { durationMs?: number }
        await sleepOrAbort(
          typeof data.durationMs === 'number' ? data.durationMs : (spec.durationMs ?? 0),
          ctx.signal,
        )
        const reason = ctx.signal.aborted
          ? String((ctx.signal.reason as Error)?.name ?? ctx.signal.reason)
          : null
        report({
          type: 'finished',
          ...stamp,
          jobId: ctx.id,
          at: Date.now(),
          aborted: ctx.signal.aborted,
          reason,
        })
        return { by: workerId, pid: process.pid }
      },
    })
    runtimes.set(rt, { runtime, timers })
  }
  send({ type: 'ready', pid: process.pid, workerIds })
}

/** Use every member that may open a handle, close, and let the process end by itself. */
async function closeCheck(spec: WorkerSpec & { name: string }, ns: string): Promise<void> {
  const adapters = await buildAdapters(spec.adapter)
  await adapters.open?.()
  const { broker, lock, storage } = adapters
  const job = {
    id: `close-${process.pid}`,
    queue: spec.queue,
    data: null,
    delayMs: 0,
    priority: 0,
    lifo: false,
    maxAttempts: 1,
    guaranteed: true,
    disabledBehavior: 'hold' as const,
  }
  await broker.add(ns, job)
  await broker.add(ns, { ...job, id: `${job.id}-later`, delayMs: 60_000 })
  const [claimed] = await broker.claim(ns, spec.queue, { workerId: 'close-check', limit: 1, leaseMs: 60_000 })
  if (claimed) await broker.complete(ns, claimed.id, claimed.token!, null)
  await lock.acquire(ns, 'close-check', 'close-check', 60_000)
  const unsubscribe = await broker.onCancel(ns, () => {})
  await broker.cancel(ns, `${job.id}-later`)
  await storage.setState(ns, 'close-check', { at: 1 })
  const abort = new AbortController()
  const waiting = broker.waitForWork(ns, `${spec.queue}-idle`, 500, abort.signal)
  await waiting
  await unsubscribe()
  await adapters.close()
  send({ type: 'closed' })
  process.removeAllListeners('message')
  process.disconnect?.()
}

process.on('message', (raw: unknown) => {
  const message = raw as ParentMessage
  void handle(message).catch((error: unknown) => {
    if (message.type === 'init') {
      send({
        type: 'fatal',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      })
      process.exitCode = 1
      process.disconnect?.()
    } else if ('reqId' in message) {
      send({ type: 'reply', reqId: message.reqId, ok: false, error: String(error) })
    }
  })
})

async function handle(message: ParentMessage): Promise<void> {
  switch (message.type) {
    case 'init':
      currentQueue = message.spec.queue
      if (message.mode === 'close-check') return closeCheck(message.spec, message.ns ?? 'default/default')
      return startWorker(message.spec)
    case 'add': {
      const entry = message.runtime ? runtimes.get(message.runtime) : runtimes.values().next().value
      if (!entry) throw new Error(`no runtime ${message.runtime}`)
      const results = []
      for (const job of message.jobs) {
        const added = await entry.runtime.enqueue(
          currentQueue!,
          job.data ?? null,
          { jobId: job.jobId, delay: job.delay ?? 0 },
          {
            maxAttempts: 3,
            guaranteed: true,
            disabledBehavior: 'hold',
          },
        )
        results.push(added.outcome)
      }
      send({ type: 'reply', reqId: message.reqId, ok: true, value: results })
      return
    }
    case 'freeze':
    case 'thaw': {
      const entry = runtimes.get(message.runtime)
      if (!entry) throw new Error(`no runtime ${message.runtime}`)
      if (message.type === 'freeze') entry.timers.freeze()
      else entry.timers.thaw()
      send({ type: 'reply', reqId: message.reqId, ok: true })
      return
    }
    case 'stop': {
      for (const { timers } of runtimes.values()) timers.thaw()
      await Promise.all([...runtimes.values()].map(({ runtime }) => runtime.stop()))
      send({ type: 'reply', reqId: message.reqId, ok: true })
      process.removeAllListeners('message')
      process.disconnect?.()
      return
    }
  }
}

// An orphan must not outlive its harness.
process.on('disconnect', () => {
  if (runtimes.size > 0) process.exit(0)
})
