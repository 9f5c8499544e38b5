import { type ClaimRequest, OqronConfigError, OqronManager, type WorkOptions } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { describe, expect, it } from 'vitest'
import { queue } from '../src/index.js'
import {
  deferred,
  freezableTimers,
  oneSlotHeldOnA,
  quiet,
  runtimesStoppedAfterEach,
  waitFor,
} from './helpers.js'

const node = runtimesStoppedAfterEach()

/**
 * A memory adapter whose claims are recorded (the limit asked for, the number handed out) and take a few ms,
 * with the most claims seen on their way at once.
 */
function recordingAdapter() {
  const adapters = memoryAdapter()
  const claims: { limit: number; got: number }[] = []
  const inFlight = { now: 0, most: 0 }
  const claim = adapters.broker.claim.bind(adapters.broker)
  adapters.broker.claim = async (ns: string, q: string, request: ClaimRequest) => {
    inFlight.most = Math.max(inFlight.most, ++inFlight.now)
    await new Promise((r) => setTimeout(r, 2))
    const jobs = await claim(ns, q, request)
    inFlight.now--
    claims.push({ limit: request.limit, got: jobs.length })
    return jobs
  }
  return { adapters, claims, inFlight }
}

/**
 * A consumer with one slot, busy with job `a` until `gate` opens, and `ahead` added after it and claimed
 * ahead (waited for until the last one is active).
 */
async function busyWithAhead(name: string, ahead: string[], work: WorkOptions, shutdownMs = 1_000) {
  const rt = node()
  const { q, gate, started } = oneSlotHeldOnA(rt, name, work)
  await rt.init({
    adapters: memoryAdapter(),
    logger: quiet,
    shutdown: { signals: false, timeoutMs: shutdownMs },
  })
  await q.add({}, { jobId: 'a' })
  await waitFor(() => started.includes('a'))
  await q.addBulk(ahead.map((jobId) => ({ data: {}, options: { jobId } })))
  const mgr = OqronManager.from(rt.getConfig())
  const last = ahead[ahead.length - 1]!
  await waitFor(
    async () => (await mgr.getJob(last))?.status === 'active',
    5_000,
    `${last} to be claimed ahead`,
  )
  return { rt, mgr, gate, started }
}

describe('prefetch', () => {
  it('holds concurrency + prefetch jobs claimed, runs concurrency at once in delivery order, claims in batches', async () => {
    const { adapters, claims, inFlight } = recordingAdapter()
    const rt = node()
    const order: number[] = []
    let running = 0
    let most = 0
    const q = queue<{ n: number }>({
      name: 'thumbs',
      runtime: rt,
      concurrency: 2,
      prefetch: 6,
      handler: async ({ data }) => {
        running++
        most = Math.max(most, running)
        order.push(data.n)
        await new Promise((r) => setTimeout(r, 5))
        running--
      },
    })
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await q.pause()
    await q.addBulk(Array.from({ length: 40 }, (_, n) => ({ data: { n } })))
    claims.length = 0
    await q.resume()
    const mgr = OqronManager.from(rt.getConfig())
    await waitFor(async () => (await mgr.countJobs('thumbs')).completed === 40)
    expect(most).toBe(2)
    // Two slots run in claim order: every job starts once, never more than one place out of order.
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, n) => n))
    for (const [i, n] of order.entries()) expect(Math.abs(n - i)).toBeLessThanOrEqual(1)
    // The first two claims fill slots and buffer (8) in halves; later ones wait until half the buffer (3) is
    // free, and ask for half of it (4), or all that is free when the rest would be too little for a claim of its
    // own (under 3): at most 6. Never more than two claims on their way.
    expect(inFlight.most).toBeLessThanOrEqual(2)
    const handedOut = claims.filter((c) => c.got > 0)
    expect(handedOut.slice(0, 2)).toEqual([
      { limit: 4, got: 4 },
      { limit: 4, got: 4 },
    ])
    for (const c of handedOut) {
      expect(c.limit).toBeGreaterThanOrEqual(3)
      expect(c.limit).toBeLessThanOrEqual(6)
    }
    expect(handedOut.length).toBeLessThanOrEqual(Math.ceil(40 / 3))
  })

  it("a busy queue of short jobs has two claims on their way: one claim's jobs run while the next travels", async () => {
    const { adapters, claims, inFlight } = recordingAdapter()
    const rt = node()
    let ran = 0
    const q = queue({ name: 'short', runtime: rt, concurrency: 2, prefetch: 6, handler: () => void ran++ })
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await q.pause()
    await q.addBulk(Array.from({ length: 200 }, () => ({ data: {} })))
    await q.resume()
    await waitFor(() => ran === 200, 5_000, 'every handler to run')
    expect(inFlight.most).toBe(2)
    for (const c of claims.filter((c) => c.got > 0)) expect(c.limit).toBeLessThanOrEqual(6)
  })

  it('an idle consumer woken for one job at a time sends one claim per wake-up, not two', async () => {
    const { adapters, claims, inFlight } = recordingAdapter()
    const rt = node()
    const ran: number[] = []
    const q = queue<{ n: number }>({
      name: 'sparse',
      runtime: rt,
      concurrency: 2,
      prefetch: 6,
      handler: ({ data }) => void ran.push(data.n),
    })
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
    for (let n = 0; n < 5; n++) {
      await q.add({ n })
      await waitFor(() => ran.includes(n))
    }
    expect(inFlight.most).toBe(1)
    expect(claims.filter((c) => c.got > 0)).toHaveLength(5)
  })

  it('claims on while completions are on their way, up to a second concurrency + prefetch of settling jobs', async () => {
    // Every completion takes 150 ms to be stored. The handlers return at once, so a slot is free again long
    // before its job is settled: the claim loop must not wait for the stores, or the handlers idle through
    // every round trip (a buffer of 6 jobs per 150 ms). Nor may it claim without bound while the stores lag.
    const adapters = memoryAdapter()
    const claim = adapters.broker.claim.bind(adapters.broker)
    const complete = adapters.broker.complete.bind(adapters.broker)
    let unsettled = 0
    let most = 0
    adapters.broker.claim = async (ns: string, q: string, request: ClaimRequest) => {
      const jobs = await claim(ns, q, request)
      unsettled += jobs.length
      most = Math.max(most, unsettled)
      return jobs
    }
    adapters.broker.complete = async (...args: Parameters<typeof complete>) => {
      await new Promise((r) => setTimeout(r, 150))
      const done = await complete(...args)
      unsettled--
      return done
    }
    const rt = node()
    let ran = 0
    const q = queue({
      name: 'slow-store',
      runtime: rt,
      concurrency: 2,
      prefetch: 4,
      handler: () => void ran++,
    })
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await q.pause()
    await q.addBulk(Array.from({ length: 60 }, () => ({ data: {} })))
    await q.resume()
    await waitFor(() => ran === 60, 5_000, 'every handler to run')
    expect(most).toBeGreaterThan(6)
    expect(most).toBeLessThanOrEqual(12)
    const mgr = OqronManager.from(rt.getConfig())
    await waitFor(async () => (await mgr.countJobs('slow-store')).completed === 60)
  })

  it('prefetched jobs are active with a renewed lease while they wait, and are not counted as running', async () => {
    const { rt, mgr, gate, started } = await busyWithAhead('slow', ['b', 'c'], {
      prefetch: 2,
      heartbeatMs: 100,
      lockTtlMs: 300,
      stallIntervalMs: 50,
    })
    expect(rt.activeJobs).toBe(1)
    // Three lease lengths pass while b and c wait: their heartbeats keep them from being recovered.
    await new Promise((r) => setTimeout(r, 1_000))
    expect(started).toEqual(['a'])
    for (const id of ['b', 'c']) {
      const job = await mgr.getJob(id)
      expect(job?.status).toBe('active')
      expect(job?.stalledCount).toBe(0)
    }
    gate.resolve()
    await waitFor(async () => (await mgr.getJob('c'))?.status === 'completed')
    expect(started).toEqual(['a', 'b', 'c'])
    for (const id of ['b', 'c']) {
      const job = await mgr.getJob(id)
      expect(job?.attempts).toBe(1)
      expect(job?.timeline.map((e) => e.event)).toEqual(['added', 'active', 'completed'])
    }
  })

  it('a cancelled prefetched job never starts its handler', async () => {
    const { mgr, gate, started } = await busyWithAhead('cancel-ahead', ['b', 'c'], { prefetch: 3 })
    expect(await mgr.cancelJob('b')).toBe(true)
    gate.resolve()
    await waitFor(async () => (await mgr.getJob('c'))?.status === 'completed')
    await new Promise((r) => setTimeout(r, 50))
    expect(started).toEqual(['a', 'c'])
    expect((await mgr.getJob('b'))?.status).toBe('cancelled')
  })

  it('stop() gives prefetched jobs back at once (attempt not counted) and drains the running one', async () => {
    const { rt, mgr, gate, started } = await busyWithAhead('drain', ['b', 'c', 'd'], { prefetch: 4 }, 5_000)
    const stopping = rt.stop()
    // Released before the running job ends: another node can take them while this one drains.
    await waitFor(async () => (await mgr.getJob('d'))?.status === 'waiting', 2_000, 'd to be released')
    expect((await mgr.getJob('a'))?.status).toBe('active')
    gate.resolve()
    await stopping
    expect(started).toEqual(['a'])
    expect((await mgr.getJob('a'))?.status).toBe('completed')
    for (const id of ['b', 'c', 'd']) {
      const job = await mgr.getJob(id)
      expect(job?.status).toBe('waiting')
      expect(job?.attempts).toBe(0)
      expect(job?.timeline.map((e) => e.event)).toEqual(['added', 'active', 'released'])
    }
  })

  it("a frozen runtime's prefetched jobs are recovered by another and run once", async () => {
    const adapters = memoryAdapter()
    const timersA = freezableTimers()
    const a = node()
    const b = node()
    const gate = deferred()
    const startedA: string[] = []
    const ranOnB: string[] = []
    const opts = { name: 'ahead', heartbeatMs: 100, lockTtlMs: 400, stallIntervalMs: 100 }
    const qa = queue({
      ...opts,
      runtime: a,
      concurrency: 1,
      prefetch: 3,
      handler: async (ctx) => {
        startedA.push(ctx.id)
        await gate.promise
      },
    })
    await a.init({ adapters, logger: quiet, timers: timersA, workerId: 'A', shutdown: { signals: false } })
    await qa.add({}, { jobId: 'a' })
    await waitFor(() => startedA.includes('a'))
    await qa.addBulk(['b', 'c', 'd'].map((jobId) => ({ data: {}, options: { jobId } })))
    const mgr = OqronManager.from(a.getConfig())
    await waitFor(async () => (await mgr.getJob('d'))?.status === 'active')
    timersA.freeze()
    const frozenAt = Date.now()
    queue({ ...opts, runtime: b, concurrency: 4, handler: (ctx) => void ranOnB.push(ctx.id) })
    await b.init({ adapters, logger: quiet, workerId: 'B', shutdown: { signals: false } })
    await waitFor(async () => (await mgr.countJobs('ahead')).completed === 4, 5_000, 'B to run all four')
    expect(Date.now() - frozenAt).toBeLessThan(opts.lockTtlMs + opts.stallIntervalMs + 1_000)
    expect(ranOnB.sort()).toEqual(['a', 'b', 'c', 'd'])
    for (const id of ['b', 'c', 'd']) expect((await mgr.getJob(id))?.stalledCount).toBe(1)
    // A's handler returns before its timers run again (no heartbeat has told it the leases are gone): its
    // completion is fenced off, and the freed slot does not start a prefetched job whose lease it has not
    // renewed for lockTtlMs.
    gate.resolve()
    await waitFor(() => a.staleWrites > 0, 2_000, "A's stale completion")
    await new Promise((r) => setTimeout(r, 100))
    timersA.thaw()
    await new Promise((r) => setTimeout(r, 300))
    expect(startedA).toEqual(['a'])
  })

  it('a handler that throws synchronously fails its job and frees its slot', async () => {
    // A plain (non-async) handler that throws ends the run from within its constructor; the slot hand-over
    // must still find the run (before: a ReferenceError, an unhandled rejection, the job never settled).
    const rt = node()
    const q = queue({
      name: 'sync-throw',
      runtime: rt,
      concurrency: 1,
      prefetch: 2,
      handler: () => {
        throw new Error('bad input')
      },
    })
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    await q.pause()
    await q.addBulk(Array.from({ length: 6 }, () => ({ data: {}, options: { attempts: 1 } })))
    await q.resume()
    const mgr = OqronManager.from(rt.getConfig())
    await waitFor(async () => (await mgr.countJobs('sync-throw')).failed === 6)
    const {
      jobs: [job],
    } = await mgr.listJobs({ queue: 'sync-throw', status: 'failed', limit: 1 })
    expect(job!.error?.message).toBe('bad input')
  })

  it('a slot takes its next job when the handler returns, while the completion is still on its way', async () => {
    const adapters = memoryAdapter()
    const complete = adapters.broker.complete.bind(adapters.broker)
    let completing = 0
    adapters.broker.complete = async (...args: Parameters<typeof complete>) => {
      completing++
      await new Promise((r) => setTimeout(r, 100))
      completing--
      return complete(...args)
    }
    const rt = node()
    let running = 0
    let most = 0
    const startedWhileCompleting: boolean[] = []
    const q = queue({
      name: 'overlap',
      runtime: rt,
      concurrency: 1,
      prefetch: 2,
      handler: async () => {
        running++
        most = Math.max(most, running)
        startedWhileCompleting.push(completing > 0)
        await new Promise((r) => setTimeout(r, 5))
        running--
      },
    })
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await q.pause()
    await q.addBulk([{ data: {} }, { data: {} }, { data: {} }])
    await q.resume()
    const mgr = OqronManager.from(rt.getConfig())
    await waitFor(async () => (await mgr.countJobs('overlap')).completed === 3)
    expect(most).toBe(1)
    expect(startedWhileCompleting).toEqual([false, true, true])
  })

  it('bad prefetch values get a typed error', () => {
    const rt = node()
    expect(() => queue({ name: 'p1', runtime: rt, prefetch: -1, handler: () => {} })).toThrow(
      OqronConfigError,
    )
    expect(() => queue({ name: 'p2', runtime: rt, prefetch: 1.5, handler: () => {} })).toThrow(/prefetch/)
    expect(() =>
      queue({ name: 'p3', runtime: rt, prefetch: 10, guaranteedWorker: false, handler: () => {} }),
    ).toThrow(/guaranteedWorker/)
  })
})
