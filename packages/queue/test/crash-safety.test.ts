import { JobCancelledError, LeaseLostError, OqronManager, StallDetector } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { describe, expect, it } from 'vitest'
import { queue } from '../src/index.js'
import { deferred, freezableTimers, quiet, runtimesStoppedAfterEach, waitFor } from './helpers.js'

const node = runtimesStoppedAfterEach()

describe('two runtimes on one memory adapter', () => {
  it('recovers the job of a frozen runtime, shows stalled, rejects the late completion and aborts its signal', async () => {
    const adapters = memoryAdapter()
    const timersA = freezableTimers()
    const a = node()
    const b = node()
    const heartbeatMs = 100
    const lockTtlMs = 400
    const stallIntervalMs = 100
    const gate = deferred()
    const started = deferred<AbortSignal>()
    let runsOnB = 0
    const opts = { name: 'billing', heartbeatMs, lockTtlMs, stallIntervalMs, concurrency: 1 }
    const qa = queue({
      ...opts,
      runtime: a,
      handler: async (ctx) => {
        started.resolve(ctx.signal)
        await gate.promise
        return 'from A'
      },
    })
    await a.init({ adapters, logger: quiet, timers: timersA, workerId: 'A', shutdown: { signals: false } })
    const leaseLost: string[] = []
    a.on('lease-lost', (e) => leaseLost.push(e.reason))

    await qa.add({ invoice: 1 }, { jobId: 'inv-1' })
    const signalA = await started.promise
    // A freezes: no heartbeat, no stall scan, the handler parked.
    timersA.freeze()
    const frozenAt = Date.now()

    queue({
      ...opts,
      runtime: b,
      handler: async () => {
        runsOnB++
        return 'from B'
      },
    })
    await b.init({ adapters, logger: quiet, workerId: 'B', shutdown: { signals: false } })
    const mgr = OqronManager.from(b.getConfig())
    const done = await waitFor(
      async () => {
        const job = await mgr.getJob('inv-1')
        return job?.status === 'completed' ? job : null
      },
      5_000,
      'B to complete the job',
    )
    const recoveredIn = Date.now() - frozenAt
    expect(recoveredIn).toBeLessThan(lockTtlMs + stallIntervalMs + 1_000)
    expect(runsOnB).toBe(1)
    expect(done.result).toBe('from B')
    expect(done.stalledCount).toBe(1)
    const events = done.timeline.map((e) => e.event)
    expect(events).toEqual(['added', 'active', 'stalled', 'active', 'completed'])
    expect(done.timeline[2]!.workerId).toBe('A')
    expect(done.timeline[3]!.workerId).toBe('B')

    // A wakes up and finishes: its completion is fenced off, counted, and its signal aborted.
    timersA.thaw()
    gate.resolve()
    await waitFor(() => a.staleWrites > 0, 2_000, 'A to attempt its stale completion')
    expect(signalA.aborted).toBe(true)
    expect(signalA.reason).toBeInstanceOf(LeaseLostError)
    expect(leaseLost.length).toBeGreaterThan(0)
    const after = await mgr.getJob('inv-1')
    expect(after!.result).toBe('from B')
    expect(after!.status).toBe('completed')
  })

  it('cancelJob on runtime B aborts a handler running on runtime A; the tombstone stays and the job never runs again', async () => {
    const adapters = memoryAdapter()
    const a = node()
    const b = node()
    const started = deferred<AbortSignal>()
    let runs = 0
    queue({
      name: 'reports',
      heartbeatMs: 200,
      lockTtlMs: 1_000,
      runtime: a,
      handler: async (ctx) => {
        runs++
        started.resolve(ctx.signal)
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
        throw ctx.signal.reason
      },
    })
    const qb = queue({ name: 'reports', runtime: b })
    await a.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await b.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await qb.add({}, { jobId: 'rep-1' })
    const signal = await started.promise
    const t0 = Date.now()
    const mgr = OqronManager.from(b.getConfig())
    expect(await mgr.cancelJob('rep-1')).toBe(true)
    await waitFor(() => signal.aborted, 200, 'the abort on A')
    expect(Date.now() - t0).toBeLessThan(200)
    expect(signal.reason).toBeInstanceOf(JobCancelledError)
    await new Promise((r) => setTimeout(r, 300))
    const job = await mgr.getJob('rep-1')
    expect(job!.status).toBe('cancelled')
    expect(job!.finishedAt).toEqual(expect.any(Number))
    expect(job!.timeline.map((e) => e.event)).toEqual(['added', 'active', 'cancelled'])
    expect(runs).toBe(1)
    expect(await mgr.cancelJob('rep-1')).toBe(false)
  })

  it('cancellation reaches the running node by its next heartbeat when the notification is lost', async () => {
    const adapters = memoryAdapter()
    // A broker whose cancel notifications never arrive: only the heartbeat can tell A.
    const deaf = {
      ...adapters,
      broker: Object.create(adapters.broker, { onCancel: { value: async () => async () => {} } }),
    }
    const a = node()
    const b = node()
    const started = deferred<AbortSignal>()
    queue({
      name: 'deaf',
      heartbeatMs: 150,
      lockTtlMs: 1_000,
      runtime: a,
      handler: async (ctx) => {
        started.resolve(ctx.signal)
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      },
    })
    const qb = queue({ name: 'deaf', runtime: b })
    await a.init({ adapters: deaf, logger: quiet, shutdown: { signals: false } })
    await b.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await qb.add({}, { jobId: 'd-1' })
    const signal = await started.promise
    const t0 = Date.now()
    await OqronManager.from(b.getConfig()).cancelJob('d-1')
    await waitFor(() => signal.aborted, 1_000, 'the heartbeat to notice the cancellation')
    expect(Date.now() - t0).toBeLessThanOrEqual(150 + 100)
    expect(signal.reason).toBeInstanceOf(JobCancelledError)
  })

  it('stops a handler whose renewal never answers (a half-open connection) when its lease runs out', async () => {
    const adapters = memoryAdapter()
    // A broker whose renewals hang for good: the request went out, no answer and no error ever comes.
    const renewals: number[] = []
    const hung = {
      ...adapters,
      broker: Object.create(adapters.broker, {
        renew: {
          value: () => {
            renewals.push(Date.now())
            return new Promise(() => {})
          },
        },
      }),
    }
    const a = node()
    const b = node()
    const started = deferred<{ signal: AbortSignal; at: number }>()
    const lost: string[] = []
    let runs = 0
    const opts = { name: 'hung', heartbeatMs: 100, lockTtlMs: 600, stallIntervalMs: 50 }
    const qa = queue({
      ...opts,
      stallIntervalMs: 60_000, // A does not recover the job itself; B does, below
      runtime: a,
      handler: async (ctx) => {
        runs++
        started.resolve({ signal: ctx.signal, at: Date.now() })
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      },
    })
    a.on('lease-lost', (e) => lost.push(e.reason))
    await a.init({ adapters: hung, logger: quiet, shutdown: { signals: false, timeoutMs: 0 } })
    await qa.add({}, { jobId: 'h-1' })
    const { signal, at } = await started.promise
    await waitFor(() => signal.aborted, 2_000, 'the handler to be stopped')
    const stoppedAfter = Date.now() - at
    // Stopped at the lease's end by this side's count (from the claim), not a heartbeat later, and not before.
    expect(stoppedAfter).toBeGreaterThanOrEqual(opts.lockTtlMs - 50)
    expect(stoppedAfter).toBeLessThan(opts.lockTtlMs + opts.heartbeatMs)
    expect(signal.reason).toBeInstanceOf(LeaseLostError)
    // The handler's return is still settled, fenced: the lease is over, so the completion is rejected.
    await waitFor(() => lost.length === 2, 2_000, 'the late completion')
    expect(lost).toEqual(['renewals failed', 'completion rejected'])
    // Only the first renewal went out: it never answered, so no second one piled up behind it.
    expect(renewals).toHaveLength(1)
    // Another node takes the job over; it runs there once more and completes.
    await a.stop()
    queue({ ...opts, runtime: b, handler: async () => void runs++ })
    await b.init({ adapters, logger: quiet, shutdown: { signals: false } })
    const mgr = OqronManager.from(b.getConfig())
    await waitFor(async () => (await mgr.getJob('h-1'))?.status === 'completed', 3_000, 'the re-run')
    expect(runs).toBe(2)
  })

  it('fails an at-most-once job whose worker was lost after lockTtlMs and never re-runs it', async () => {
    const adapters = memoryAdapter()
    const timersA = freezableTimers()
    const a = node()
    const b = node()
    const started = deferred()
    let runs = 0
    const opts = {
      name: 'analytics',
      guaranteedWorker: false,
      heartbeatMs: 100,
      lockTtlMs: 300,
      stallIntervalMs: 50,
    }
    const qa = queue({
      ...opts,
      runtime: a,
      handler: async () => {
        runs++
        started.resolve()
        await new Promise(() => {})
      },
    })
    queue({ ...opts, runtime: b, handler: async () => void runs++ })
    await a.init({ adapters, logger: quiet, timers: timersA, shutdown: { signals: false, timeoutMs: 0 } })
    await qa.add({ event: 'click' }, { jobId: 'ev-1' })
    await started.promise
    timersA.freeze()
    await b.init({ adapters, logger: quiet, shutdown: { signals: false } })
    const mgr = OqronManager.from(b.getConfig())
    const job = await waitFor(
      async () => {
        const j = await mgr.getJob('ev-1')
        return j?.status === 'failed' ? j : null
      },
      3_000,
      'the job to be failed as worker lost',
    )
    expect(job.error!.message).toMatch(/worker lost/)
    expect(job.timeline.map((e) => e.event)).toContain('worker-lost')
    await new Promise((r) => setTimeout(r, 300))
    expect(runs).toBe(1)
    timersA.thaw()
  })

  it('fails a job as poison after maxStalledCount recoveries', async () => {
    const adapters = memoryAdapter()
    const rt = node()
    let runs = 0
    const timers = freezableTimers()
    const q = queue({
      name: 'poison',
      heartbeatMs: 50,
      lockTtlMs: 150,
      maxStalledCount: 2,
      concurrency: 5,
      runtime: rt,
      // Each run hangs without heartbeats (this runtime's timers are frozen), like a worker that keeps dying.
      handler: async () => {
        runs++
        await new Promise(() => {})
      },
    })
    timers.freeze()
    await rt.init({ adapters, logger: quiet, timers, shutdown: { signals: false, timeoutMs: 0 } })
    const stalled: string[] = []
    rt.on('stalled', (e) => stalled.push(e.action))
    const detector = new StallDetector(rt.engineContext(), 'poison', 2, 50)
    const mgr = OqronManager.from(rt.getConfig())
    await q.add({}, { jobId: 'p-1' })
    for (let round = 1; round <= 3; round++) {
      await waitFor(() => runs === round, 2_000, `run ${round}`)
      await new Promise((r) => setTimeout(r, 200))
      expect(await detector.scan()).toBe(1)
    }
    const job = await mgr.getJob('p-1')
    expect(job!.status).toBe('failed')
    expect(job!.stalledCount).toBe(3)
    expect(job!.error!.message).toMatch(/maxStalledCount 2/)
    expect(stalled).toEqual(['requeued', 'requeued', 'failed'])
    await new Promise((r) => setTimeout(r, 100))
    expect(runs).toBe(3)
    timers.thaw()
  })
})
