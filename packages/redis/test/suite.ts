import type { JobRecord, OqronAdapters } from '@oqronkit/core'
import { TIMELINE_LIMIT } from '@oqronkit/core'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { newJob, randomNs, redisNow, sleep } from './helpers.js'

export interface SuiteContext {
  /** A new adapter on the shared test prefix (several of them act as several nodes). */
  create(): OqronAdapters
  /** A plain connection for checks (TIME, key inspection). */
  admin(): Redis | Cluster
}

/**
 * The adapter contract, member by member, against a real server. Every test works in its own namespace so
 * tests never see each other's jobs.
 */
/**
 * An idle worker's loop: wait, claim, repeat until something is claimed or `withinMs` passed. False wake-ups
 * are allowed by the contract (a reconnect, a cluster subscriber re-electing its node), so tests that wait
 * for work loop like the engine does instead of expecting one wait to be enough.
 */
async function waitAndClaim(adapters: OqronAdapters, ns: string, withinMs: number): Promise<JobRecord[]> {
  const deadline = performance.now() + withinMs
  const signal = new AbortController().signal
  while (performance.now() < deadline) {
    await adapters.broker.waitForWork(ns, 'q', Math.max(1, deadline - performance.now()), signal)
    const jobs = await adapters.broker.claim(ns, 'q', { workerId: 'waiter', limit: 5, leaseMs: 1_000 })
    if (jobs.length > 0) return jobs
  }
  return []
}

export function adapterSuite(ctx: SuiteContext): void {
  let a: OqronAdapters
  let b: OqronAdapters
  const workers = 'worker'

  beforeAll(async () => {
    a = ctx.create()
    b = ctx.create()
    await a.open?.()
    await b.open?.()
  })

  afterAll(async () => {
    await a?.close()
    await b?.close()
  })

  describe('add', () => {
    it('stores a job and returns exactly the record getJob reads', async () => {
      const ns = randomNs()
      const job = newJob({ data: { nested: { list: [1, 'two', null] } }, priority: 3, maxAttempts: 4 })
      const before = await redisNow(ctx.admin())
      const added = await a.broker.add(ns, job)
      const after = await redisNow(ctx.admin())
      expect(added.outcome).toBe('created')
      const stored = await a.storage.getJob(ns, job.id)
      expect(stored).toEqual(added.job)
      expect(stored).toEqual({
        id: job.id,
        queue: 'q',
        status: 'waiting',
        data: { nested: { list: [1, 'two', null] } },
        result: null,
        error: null,
        attempts: 0,
        maxAttempts: 4,
        stalledCount: 0,
        progress: 0,
        progressLabel: null,
        priority: 3,
        lifo: false,
        guaranteed: true,
        workerId: null,
        token: null,
        lockExpiresAt: null,
        createdAt: expect.any(Number),
        startedAt: null,
        finishedAt: null,
        runAt: stored!.createdAt,
        timeline: [{ at: stored!.createdAt, event: 'added' }],
      })
      expect(stored!.createdAt).toBeGreaterThanOrEqual(before)
      expect(stored!.createdAt).toBeLessThanOrEqual(after)
    })

    it('makes one job from 100 concurrent adds with one id, across adapters', async () => {
      const ns = randomNs()
      const job = newJob()
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).broker.add(ns, { ...job, data: { i } })),
      )
      const created = results.filter((r) => r.outcome === 'created')
      expect(created).toHaveLength(1)
      expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(99)
      for (const r of results) expect(r.job!.data).toEqual(created[0]!.job!.data)
      const counts = await a.storage.countJobs(ns, 'q')
      expect(counts.waiting).toBe(1)
      expect(await a.broker.claim(ns, 'q', { workerId: workers, limit: 10, leaseMs: 5_000 })).toHaveLength(1)
    })

    it('treats an id as taken across queues of one namespace', async () => {
      const ns = randomNs()
      const job = newJob({ queue: 'one' })
      expect((await a.broker.add(ns, job)).outcome).toBe('created')
      const again = await a.broker.add(ns, { ...job, queue: 'two' })
      expect(again.outcome).toBe('duplicate')
      expect(again.job!.queue).toBe('one')
      expect((await a.storage.countJobs(ns, 'two')).waiting).toBe(0)
    })

    it('addBulk keeps input order and sees an id repeated in the batch as a duplicate', async () => {
      const ns = randomNs()
      const x = newJob()
      const y = newJob({ queue: 'other' })
      const results = await a.broker.addBulk(ns, [x, y, { ...x, data: 'again' }, newJob({ delayMs: 10_000 })])
      expect(results.map((r) => r.outcome)).toEqual(['created', 'created', 'duplicate', 'created'])
      expect(results[0]!.job!.id).toBe(x.id)
      expect(results[1]!.job!.queue).toBe('other')
      expect(results[2]!.job!.data).toEqual(x.data)
      expect(results[3]!.job!.status).toBe('delayed')
      expect(await a.storage.getJob(ns, results[3]!.job!.id)).toEqual(results[3]!.job)
    })

    it('rejects bad input with a typed error and stores nothing', async () => {
      const ns = randomNs()
      const good = newJob()
      await expect(a.broker.addBulk(ns, [good, newJob({ priority: 1.5 })])).rejects.toMatchObject({
        name: 'OqronConfigError',
        field: 'priority',
      })
      await expect(a.broker.add(ns, newJob({ id: '' }))).rejects.toMatchObject({ field: 'id' })
      await expect(a.broker.add(ns, newJob({ delayMs: -1 }))).rejects.toMatchObject({ field: 'delayMs' })
      // Redis cannot join the caller's database transaction: refused, nothing stored.
      await expect(a.broker.add(ns, good, { tx: {} })).rejects.toMatchObject({
        name: 'OqronConfigError',
        field: 'tx',
      })
      expect(await a.storage.getJob(ns, good.id)).toBeNull()
    })
  })

  describe('claim', () => {
    it('leases each job to exactly one of many concurrent claimers', async () => {
      const ns = randomNs()
      const ids = new Set<string>()
      const jobs = Array.from({ length: 300 }, () => newJob())
      for (const j of jobs) ids.add(j.id)
      await a.broker.addBulk(ns, jobs)
      const claimed: JobRecord[] = []
      await Promise.all(
        Array.from({ length: 25 }, async (_, w) => {
          const adapter = w % 2 ? a : b
          for (;;) {
            const got = await adapter.broker.claim(ns, 'q', { workerId: `w${w}`, limit: 7, leaseMs: 10_000 })
            if (got.length === 0) return
            claimed.push(...got)
          }
        }),
      )
      expect(claimed).toHaveLength(300)
      expect(new Set(claimed.map((j) => j.id))).toEqual(ids)
      expect(new Set(claimed.map((j) => j.token)).size).toBe(300)
      expect((await a.storage.countJobs(ns, 'q')).active).toBe(300)
    })

    it('writes status, token, worker, Redis-clock lease, attempts and timeline in one step', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      // The client's clock is an hour off: nothing the adapter writes may depend on it.
      const clock = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000)
      let claimed: JobRecord[]
      let serverBefore: number
      try {
        serverBefore = await redisNow(ctx.admin())
        claimed = await a.broker.claim(ns, 'q', { workerId: 'w1', limit: 5, leaseMs: 2_000 })
      } finally {
        clock.mockRestore()
      }
      const serverAfter = await redisNow(ctx.admin())
      expect(claimed).toHaveLength(1)
      const c = claimed[0]!
      expect(c).toMatchObject({ id: job!.id, status: 'active', workerId: 'w1', attempts: 1 })
      expect(c.token).toEqual(expect.any(String))
      expect(c.startedAt).toBeGreaterThanOrEqual(serverBefore)
      expect(c.startedAt).toBeLessThanOrEqual(serverAfter)
      expect(c.lockExpiresAt).toBe(c.startedAt! + 2_000)
      // A claim reply leaves the timeline out (the contract allows it); getJob has the whole one.
      expect(c.timeline).toEqual([])
      const stored = await a.storage.getJob(ns, job!.id)
      expect(stored!.timeline).toEqual([
        { at: stored!.createdAt, event: 'added' },
        { at: c.startedAt, event: 'active', workerId: 'w1', detail: 'attempt 1' },
      ])
      expect(stored).toEqual({ ...c, timeline: stored!.timeline })
    })

    it('honours priority, then FIFO, with LIFO jobs ahead within their priority', async () => {
      const ns = randomNs()
      const add = (id: string, priority: number, lifo = false) =>
        a.broker.add(ns, newJob({ id, priority, lifo }))
      await add('low-1', -5)
      await add('mid-1', 0)
      await add('mid-2', 0)
      await add('high-1', 10)
      await add('mid-lifo-1', 0, true)
      await add('mid-3', 0)
      await add('mid-lifo-2', 0, true)
      await add('high-2', 10)
      const order: string[] = []
      for (;;) {
        const got = await a.broker.claim(ns, 'q', { workerId: workers, limit: 3, leaseMs: 5_000 })
        if (got.length === 0) break
        order.push(...got.map((j) => j.id))
      }
      expect(order).toEqual([
        'high-1',
        'high-2',
        'mid-lifo-2',
        'mid-lifo-1',
        'mid-1',
        'mid-2',
        'mid-3',
        'low-1',
      ])
    })

    it('returns nothing for limit 0 and for a queue with no due job', async () => {
      const ns = randomNs()
      await a.broker.add(ns, newJob({ delayMs: 60_000 }))
      expect(await a.broker.claim(ns, 'q', { workerId: workers, limit: 0, leaseMs: 1_000 })).toEqual([])
      expect(await a.broker.claim(ns, 'q', { workerId: workers, limit: 5, leaseMs: 1_000 })).toEqual([])
    })
  })

  describe('delayed jobs', () => {
    it('are promoted by claim once due by Redis time, and wake a waiting worker when due', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob({ delayMs: 400 }))
      expect(job!.status).toBe('delayed')
      expect(job!.runAt).toBe(job!.createdAt + 400)
      expect(await a.broker.claim(ns, 'q', { workerId: workers, limit: 5, leaseMs: 1_000 })).toEqual([])
      // The waits end when the job is due (the timer is cut to the due time), long before the 10 s timeout.
      const claimed = await waitAndClaim(b, ns, 3_000)
      expect(claimed.map((j) => j.id)).toEqual([job!.id])
      expect(claimed[0]!.startedAt).toBeGreaterThanOrEqual(job!.runAt)
    })

    it('an earlier delayed job re-arms a waiter that was sleeping until a later one', async () => {
      const ns = randomNs()
      await a.broker.add(ns, newJob({ delayMs: 30_000 }))
      const signal = new AbortController().signal
      await b.broker.waitForWork(ns, 'q', 20_000, signal)
      const started = performance.now()
      const waiting = b.broker.waitForWork(ns, 'q', 20_000, signal)
      await sleep(50)
      const { job } = await a.broker.add(ns, newJob({ delayMs: 200 }))
      await waiting // woken by the new earliest due time, instead of sleeping until the 30 s job
      expect(performance.now() - started).toBeLessThan(5_000)
      const claimed = await waitAndClaim(b, ns, 5_000)
      expect(claimed.map((j) => j.id)).toEqual([job!.id])
    })
  })

  describe('fencing', () => {
    async function staleAndLive(ns: string) {
      const { job } = await a.broker.add(ns, newJob())
      const [first] = await a.broker.claim(ns, 'q', { workerId: 'zombie', limit: 1, leaseMs: 150 })
      await sleep(300)
      const recovered = await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 5, limit: 10 })
      expect(recovered.map((r) => r.action)).toEqual(['requeued'])
      const [second] = await b.broker.claim(ns, 'q', { workerId: 'healthy', limit: 1, leaseMs: 10_000 })
      expect(second!.id).toBe(job!.id)
      return { id: job!.id, stale: first!.token!, live: second!.token! }
    }

    it('rejects every token-taking write with a stale token and changes nothing', async () => {
      const ns = randomNs()
      const { id, stale, live } = await staleAndLive(ns)
      const snapshot = await a.storage.getJob(ns, id)
      expect(await a.broker.renew(ns, id, stale, 10_000)).toBe('lost')
      expect(await a.broker.progress(ns, id, stale, 50, 'half')).toBe(false)
      expect(await a.broker.log(ns, id, stale, { at: 0, event: 'log', detail: 'zombie says hi' })).toBe(false)
      expect(await a.broker.complete(ns, id, stale, { by: 'zombie' })).toBe(false)
      expect(
        await a.broker.fail(ns, id, stale, { error: { name: 'E', message: 'x' }, retryDelayMs: null }),
      ).toBe(false)
      expect(await a.broker.release(ns, id, stale)).toBe(false)
      for (const garbage of ['', 'no-queue-in-it', `x:q`, `${live}x`]) {
        expect(await a.broker.renew(ns, id, garbage, 10_000)).toBe('lost')
        expect(await a.broker.complete(ns, id, garbage, 1)).toBe(false)
      }
      expect(await a.storage.getJob(ns, id)).toEqual(snapshot)
      expect(await b.broker.complete(ns, id, live, { by: 'healthy' })).toBe(true)
      const done = await a.storage.getJob(ns, id)
      expect(done).toMatchObject({
        status: 'completed',
        result: { by: 'healthy' },
        token: null,
        lockExpiresAt: null,
        // the last worker that held it stays on the record, for the audit trail
        workerId: 'healthy',
      })
      expect(await a.broker.complete(ns, id, live, { by: 'twice' })).toBe(false)
      expect((await a.storage.getJob(ns, id))!.result).toEqual({ by: 'healthy' })
    })

    it('judges lease expiry by Redis time: an expired lease fails the fence before any stall scan', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 150 })
      expect(await a.broker.renew(ns, job!.id, c!.token!, 150)).toBe('ok')
      const renewed = await a.storage.getJob(ns, job!.id)
      expect(renewed!.lockExpiresAt).toBeGreaterThanOrEqual(c!.lockExpiresAt!)
      await sleep(250)
      expect(await a.broker.progress(ns, job!.id, c!.token!, 10, null)).toBe(false)
      expect(await a.broker.renew(ns, job!.id, c!.token!, 10_000)).toBe('lost')
      expect(await a.broker.complete(ns, job!.id, c!.token!, 'late')).toBe(false)
      expect((await a.storage.getJob(ns, job!.id))!.status).toBe('active')
    })

    it('keeps a renewed lease alive past its first expiry', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 300 })
      for (let i = 0; i < 4; i++) {
        await sleep(120)
        expect(await a.broker.renew(ns, job!.id, c!.token!, 300)).toBe('ok')
      }
      expect(await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 1, limit: 10 })).toEqual([])
      expect(await a.broker.complete(ns, job!.id, c!.token!, 'ok')).toBe(true)
    })
  })

  describe('settling', () => {
    it('progress and log are recorded with Redis time; the timeline stays bounded', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      expect(await a.broker.progress(ns, job!.id, c!.token!, 40, 'copying')).toBe(true)
      let stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({ progress: 40, progressLabel: 'copying' })
      expect(await a.broker.progress(ns, job!.id, c!.token!, 60, null)).toBe(true)
      expect(await a.broker.log(ns, job!.id, c!.token!, { at: 1, event: 'log', detail: 'hello' })).toBe(true)
      stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({ progress: 60, progressLabel: null })
      const logEntry = stored!.timeline.at(-1)!
      expect(logEntry).toEqual({ at: expect.any(Number), event: 'log', detail: 'hello' })
      expect(logEntry.at).toBeGreaterThanOrEqual(c!.startedAt!)
      expect(stored!.timeline.filter((e) => e.event === 'progress')).toHaveLength(2)
      for (let i = 0; i < TIMELINE_LIMIT + 10; i++) {
        await a.broker.log(ns, job!.id, c!.token!, { at: 0, event: 'log', detail: `line ${i}` })
      }
      stored = await a.storage.getJob(ns, job!.id)
      expect(stored!.timeline).toHaveLength(TIMELINE_LIMIT)
      expect(stored!.timeline.at(-1)!.detail).toBe(`line ${TIMELINE_LIMIT + 9}`)
    })

    it('fail retries at once, after a delay, or fails for good', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const claim = async () =>
        (await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 }))[0]!
      const error = { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at x' }
      let c = await claim()
      expect(await a.broker.fail(ns, job!.id, c.token!, { error, retryDelayMs: 0 })).toBe(true)
      let stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({
        status: 'waiting',
        error,
        token: null,
        workerId: null,
        lockExpiresAt: null,
      })
      expect(stored!.timeline.at(-1)).toMatchObject({
        event: 'retrying',
        detail: 'boom; next attempt in 0 ms',
      })
      c = await claim()
      expect(c.attempts).toBe(2)
      expect(await a.broker.fail(ns, job!.id, c.token!, { error, retryDelayMs: 250 })).toBe(true)
      stored = await a.storage.getJob(ns, job!.id)
      expect(stored!.status).toBe('delayed')
      expect(stored!.runAt).toBe(stored!.timeline.at(-1)!.at + 250)
      expect(await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })).toEqual([])
      await sleep(300)
      c = await claim()
      expect(c.attempts).toBe(3)
      expect(await a.broker.fail(ns, job!.id, c.token!, { error, retryDelayMs: null })).toBe(true)
      stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({ status: 'failed', error, finishedAt: expect.any(Number) })
      expect(stored!.timeline.at(-1)).toMatchObject({ event: 'failed', detail: 'boom', workerId: 'w' })
    })

    it('release gives the job back at once, at the front, without counting the attempt', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 60_000 })
      await a.broker.add(ns, newJob())
      expect(await a.broker.release(ns, job!.id, c!.token!)).toBe(true)
      const stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({ status: 'waiting', attempts: 0, token: null, lockExpiresAt: null })
      expect(stored!.timeline.at(-1)).toMatchObject({ event: 'released', workerId: 'w' })
      const [again] = await b.broker.claim(ns, 'q', { workerId: 'w2', limit: 1, leaseMs: 60_000 })
      expect(again).toMatchObject({ id: job!.id, attempts: 1, workerId: 'w2' })
    })

    it("claim stores the consumer's guaranteed flag on the job, which the stall scan then follows", async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob({ guaranteed: true }))
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 100, guaranteed: false })
      expect(c!.guaranteed).toBe(false)
      await sleep(200)
      const [outcome] = await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 5, limit: 5 })
      expect(outcome).toMatchObject({
        action: 'failed',
        job: { id: job!.id, error: { name: 'WorkerLostError' } },
      })
      const other = await a.broker.add(ns, newJob({ guaranteed: false }))
      const [d] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      expect(d).toMatchObject({ id: other.job!.id, guaranteed: false })
    })
  })

  describe('completeAndClaim', () => {
    it('completes the job and claims the next ones for the same worker in one step', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w1', limit: 1, leaseMs: 60_000 })
      const second = await a.broker.add(ns, newJob({ priority: 0 }))
      const urgent = await a.broker.add(ns, newJob({ priority: 5 }))
      const later = await a.broker.add(ns, newJob())
      const before = await redisNow(ctx.admin())
      const outcome = await a.broker.completeAndClaim!(
        ns,
        job!.id,
        c!.token!,
        { ok: 1 },
        {
          workerId: 'w2',
          limit: 2,
          leaseMs: 30_000,
          guaranteed: false,
        },
      )
      expect(outcome.completed).toBe(true)
      // The claim half keeps every rule of claim: priority first, then FIFO, bounded by limit.
      expect(outcome.jobs.map((j) => j.id)).toEqual([urgent.job!.id, second.job!.id])
      for (const next of outcome.jobs) {
        expect(next).toMatchObject({ status: 'active', workerId: 'w2', attempts: 1, guaranteed: false })
        expect(next.lockExpiresAt! - before).toBeGreaterThanOrEqual(30_000)
        expect(next.lockExpiresAt! - before).toBeLessThan(35_000)
        expect(next.timeline).toEqual([])
        const stored = await a.storage.getJob(ns, next.id)
        expect(stored!.timeline.at(-1)).toMatchObject({ event: 'active', workerId: 'w2' })
        expect(stored).toEqual({ ...next, timeline: stored!.timeline })
      }
      expect(outcome.jobs[0]!.token).not.toBe(outcome.jobs[1]!.token)
      const done = await a.storage.getJob(ns, job!.id)
      expect(done).toMatchObject({ status: 'completed', result: { ok: 1 }, token: null, workerId: 'w1' })
      expect(done!.timeline.at(-1)).toMatchObject({ event: 'completed', workerId: 'w1' })
      // Each claimed job is fenced by its own token like any claimed job.
      expect(await a.broker.complete(ns, second.job!.id, outcome.jobs[1]!.token!, 'x')).toBe(true)
      expect(await a.broker.renew(ns, urgent.job!.id, outcome.jobs[0]!.token!, 1_000)).toBe('ok')
      const counts = await a.storage.countJobs(ns, 'q')
      expect(counts).toMatchObject({ completed: 2, active: 1, waiting: 1 })
      expect((await b.broker.claim(ns, 'q', { workerId: 'w3', limit: 5, leaseMs: 1_000 }))[0]!.id).toBe(
        later.job!.id,
      )
    })

    it('with a stale token completes nothing and claims nothing', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [stale] = await a.broker.claim(ns, 'q', { workerId: 'w1', limit: 1, leaseMs: 100 })
      await sleep(200)
      await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 5, limit: 10 })
      const [live] = await b.broker.claim(ns, 'q', { workerId: 'w2', limit: 1, leaseMs: 60_000 })
      const waiting = await a.broker.add(ns, newJob())
      const next = { workerId: 'w1', limit: 5, leaseMs: 60_000 }
      expect(await a.broker.completeAndClaim!(ns, job!.id, stale!.token!, 'zombie', next)).toEqual({
        completed: false,
        jobs: [],
      })
      // An expired lease that no scan has recovered yet is stale too.
      const other = await a.broker.add(ns, newJob({ queue: 'q2' }))
      const [expired] = await a.broker.claim(ns, 'q2', { workerId: 'w1', limit: 1, leaseMs: 100 })
      await a.broker.add(ns, newJob({ queue: 'q2' }))
      await sleep(200)
      expect(await a.broker.completeAndClaim!(ns, other.job!.id, expired!.token!, 'late', next)).toEqual({
        completed: false,
        jobs: [],
      })
      expect(await a.storage.getJob(ns, other.job!.id)).toMatchObject({ status: 'active', result: null })
      expect(await a.broker.completeAndClaim!(ns, job!.id, 'nonsense', 'x', next)).toEqual({
        completed: false,
        jobs: [],
      })
      const stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({ status: 'active', token: live!.token, result: null, workerId: 'w2' })
      expect(await a.storage.getJob(ns, waiting.job!.id)).toMatchObject({ status: 'waiting', attempts: 0 })
      expect(await b.broker.complete(ns, job!.id, live!.token!, 'the re-run')).toBe(true)
      expect((await a.storage.getJob(ns, job!.id))!.result).toBe('the re-run')
    })

    it('on a paused or disabled queue completes the job and claims none', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 60_000 })
      const queued = await a.broker.add(ns, newJob())
      await a.broker.pause(ns, 'q')
      const next = { workerId: 'w', limit: 5, leaseMs: 60_000 }
      expect(await a.broker.completeAndClaim!(ns, job!.id, c!.token!, 7, next)).toEqual({
        completed: true,
        jobs: [],
      })
      expect(await a.storage.getJob(ns, job!.id)).toMatchObject({ status: 'completed', result: 7 })
      expect(await a.storage.getJob(ns, queued.job!.id)).toMatchObject({ status: 'waiting' })
      await a.broker.resume(ns, 'q')
      const [d] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 60_000 })
      await a.broker.add(ns, newJob())
      await a.broker.setDisabled(ns, 'q', true)
      const outcome = await a.broker.completeAndClaim!(ns, d!.id, d!.token!, 8, next)
      expect(outcome).toEqual({ completed: true, jobs: [] })
      await a.broker.setDisabled(ns, 'q', false)
      // limit 0 is a plain completion.
      const [e] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 60_000 })
      expect(await a.broker.completeAndClaim!(ns, e!.id, e!.token!, 9, { ...next, limit: 0 })).toEqual({
        completed: true,
        jobs: [],
      })
      expect((await a.storage.countJobs(ns, 'q')).completed).toBe(3)
    })

    it('promotes due delayed jobs like claim does', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 60_000 })
      const delayed = await a.broker.add(ns, newJob({ delayMs: 100 }))
      await sleep(200)
      const outcome = await a.broker.completeAndClaim!(ns, job!.id, c!.token!, null, {
        workerId: 'w',
        limit: 1,
        leaseMs: 60_000,
      })
      expect(outcome.completed).toBe(true)
      expect(outcome.jobs.map((j) => j.id)).toEqual([delayed.job!.id])
    })
  })

  describe('stall recovery', () => {
    it('requeues expired guaranteed jobs as stalled and fails them past maxStalledCount', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c1] = await a.broker.claim(ns, 'q', { workerId: 'w1', limit: 1, leaseMs: 100 })
      expect(await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 1, limit: 10 })).toEqual([])
      await sleep(200)
      const behind = await a.broker.add(ns, newJob())
      const [first] = await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 1, limit: 10 })
      expect(first!.action).toBe('requeued')
      expect(first!.job).toMatchObject({ status: 'stalled', stalledCount: 1, token: null, workerId: null })
      expect(first!.job.timeline.at(-1)).toMatchObject({ event: 'stalled', workerId: 'w1' })
      expect(await a.storage.getJob(ns, job!.id)).toEqual(first!.job)
      expect((await a.storage.countJobs(ns, 'q')).stalled).toBe(1)
      // Recovered jobs go to the front: they were due before anything queued behind them.
      const [c2] = await a.broker.claim(ns, 'q', { workerId: 'w2', limit: 1, leaseMs: 100 })
      expect(c2).toMatchObject({ id: job!.id, attempts: 2, stalledCount: 1 })
      expect(c2!.token).not.toBe(c1!.token)
      await sleep(200)
      const [second] = await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 1, limit: 10 })
      expect(second!.action).toBe('failed')
      expect(second!.job).toMatchObject({
        status: 'failed',
        stalledCount: 2,
        error: { name: 'StalledJobError' },
      })
      expect(second!.job.finishedAt).toEqual(expect.any(Number))
      const [rest] = await a.broker.claim(ns, 'q', { workerId: 'w3', limit: 5, leaseMs: 100 })
      expect(rest!.id).toBe(behind.job!.id)
    })

    it('fails an at-most-once job whose worker was lost instead of running it again', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob({ guaranteed: false }))
      await a.broker.claim(ns, 'q', { workerId: 'w1', limit: 1, leaseMs: 100 })
      await sleep(200)
      const [outcome] = await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 5, limit: 10 })
      expect(outcome!.action).toBe('failed')
      expect(outcome!.job).toMatchObject({
        id: job!.id,
        status: 'failed',
        error: { name: 'WorkerLostError', message: expect.stringMatching(/^worker lost: /) },
      })
      expect(outcome!.job.timeline.at(-1)).toMatchObject({ event: 'worker-lost', workerId: 'w1' })
    })

    it('acts on each expired lease exactly once when every node scans at once, within the limit', async () => {
      const ns = randomNs()
      await a.broker.addBulk(
        ns,
        Array.from({ length: 30 }, () => newJob()),
      )
      await a.broker.claim(ns, 'q', { workerId: 'w', limit: 30, leaseMs: 100 })
      await sleep(200)
      const scans = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? a : b).broker.recoverStalled(ns, 'q', { maxStalledCount: 3, limit: 4 }),
        ),
      )
      for (const scan of scans) expect(scan.length).toBeLessThanOrEqual(4)
      const more = await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 3, limit: 100 })
      const ids = [...scans.flat(), ...more].map((o) => o.job.id)
      expect(ids).toHaveLength(30)
      expect(new Set(ids).size).toBe(30)
    })
  })

  describe('pause and disable', () => {
    it('pause stops claims but accepts adds; resume wakes a waiting worker', async () => {
      const ns = randomNs()
      await a.broker.pause(ns, 'q')
      expect(await a.broker.isPaused(ns, 'q')).toBe(true)
      expect((await a.broker.add(ns, newJob())).outcome).toBe('created')
      expect(await a.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 1_000 })).toEqual([])
      const signal = new AbortController().signal
      await b.broker.waitForWork(ns, 'q', 20_000, signal)
      const started = performance.now()
      const waiting = b.broker.waitForWork(ns, 'q', 20_000, signal)
      await sleep(50)
      await a.broker.resume(ns, 'q')
      await waiting
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(await a.broker.isPaused(ns, 'q')).toBe(false)
      expect(await b.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 1_000 })).toHaveLength(1)
    })

    it('disabled: hold stores paused jobs, skip and reject store nothing; enabling releases held jobs', async () => {
      const ns = randomNs()
      const early = await a.broker.add(ns, newJob())
      await a.broker.setDisabled(ns, 'q', true)
      expect(await a.broker.isDisabled(ns, 'q')).toBe(true)
      const held = await a.broker.add(ns, newJob({ disabledBehavior: 'hold' }))
      const heldLater = await a.broker.add(ns, newJob({ disabledBehavior: 'hold', delayMs: 60_000 }))
      const skipped = newJob({ disabledBehavior: 'skip' })
      const rejected = newJob({ disabledBehavior: 'reject' })
      expect(held.outcome).toBe('held')
      expect(held.job).toMatchObject({ status: 'paused', timeline: [{ event: 'added' }, { event: 'held' }] })
      expect(await a.storage.getJob(ns, held.job!.id)).toEqual(held.job)
      expect(await a.broker.add(ns, skipped)).toEqual({ outcome: 'skipped', job: null })
      expect(await a.broker.add(ns, rejected)).toEqual({ outcome: 'rejected', job: null })
      expect(await a.storage.getJob(ns, skipped.id)).toBeNull()
      expect(await a.storage.getJob(ns, rejected.id)).toBeNull()
      expect(await a.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 1_000 })).toEqual([])
      expect((await a.storage.countJobs(ns, 'q')).paused).toBe(2)

      const signal = new AbortController().signal
      await b.broker.waitForWork(ns, 'q', 20_000, signal)
      const waiting = b.broker.waitForWork(ns, 'q', 20_000, signal)
      const started = performance.now()
      await a.broker.setDisabled(ns, 'q', false)
      await waiting
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(await a.broker.isDisabled(ns, 'q')).toBe(false)
      const released = await a.storage.getJob(ns, held.job!.id)
      expect(released!.status).toBe('waiting')
      expect(released!.timeline.at(-1)!.event).toBe('resumed')
      expect((await a.storage.getJob(ns, heldLater.job!.id))!.status).toBe('delayed')
      const claimed = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 1_000 })
      expect(claimed.map((j) => j.id).sort()).toEqual([early.job!.id, held.job!.id].sort())
      // Skipped/rejected ids were not taken: they can be added once the queue is enabled.
      expect((await a.broker.add(ns, skipped)).outcome).toBe('created')
    })
  })

  describe('cancel', () => {
    it('writes a tombstone for a waiting job, which never runs', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const result = await a.broker.cancel(ns, job!.id)
      expect(result!.cancelled).toBe(true)
      expect(result!.job).toMatchObject({ id: job!.id, status: 'cancelled', finishedAt: expect.any(Number) })
      expect(result!.job.timeline.map((e) => e.event)).toEqual(['added', 'cancelled'])
      expect(await a.storage.getJob(ns, job!.id)).toEqual(result!.job)
      expect(await a.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 1_000 })).toEqual([])
      const again = await a.broker.cancel(ns, job!.id)
      expect(again!.cancelled).toBe(false)
      expect(await a.broker.cancel(ns, 'no-such-job')).toBeNull()
    })

    it('reaches the node running the job through onCancel, and its renew answers cancelled', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await b.broker.claim(ns, 'q', { workerId: 'node-b', limit: 1, leaseMs: 10_000 })
      const heard: string[] = []
      const delivered = new Promise<number>((resolve) => {
        const started = performance.now()
        void b.broker
          .onCancel(ns, (id) => {
            heard.push(id)
            resolve(performance.now() - started)
          })
          .then((off) => {
            unsubscribe = off
            return a.broker.cancel(ns, job!.id)
          })
      })
      let unsubscribe: (() => Promise<void>) | undefined
      await delivered
      expect(heard).toEqual([job!.id])
      expect(await b.broker.renew(ns, job!.id, c!.token!, 10_000)).toBe('cancelled')
      expect(await b.broker.complete(ns, job!.id, c!.token!, 'too late')).toBe(false)
      const stored = await a.storage.getJob(ns, job!.id)
      expect(stored).toMatchObject({ status: 'cancelled', token: null, lockExpiresAt: null, result: null })
      await unsubscribe!()
      const other = await a.broker.add(ns, newJob())
      await a.broker.cancel(ns, other.job!.id)
      await sleep(100)
      expect(heard).toEqual([job!.id])
    })

    it('onCancel only hears its own namespace', async () => {
      const ns = randomNs()
      const otherNs = randomNs()
      const heard: string[] = []
      const off = await b.broker.onCancel(ns, (id) => heard.push(id))
      const foreign = await a.broker.add(otherNs, newJob())
      await a.broker.cancel(otherNs, foreign.job!.id)
      const own = await a.broker.add(ns, newJob())
      await a.broker.cancel(ns, own.job!.id)
      await vi.waitFor(() => expect(heard).toEqual([own.job!.id]))
      await off()
    })
  })

  describe('retry', () => {
    it('moves a failed or cancelled job back to waiting with attempts reset', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      await a.broker.fail(ns, job!.id, c!.token!, { error: { name: 'E', message: 'no' }, retryDelayMs: null })
      const retried = await a.broker.retry(ns, job!.id)
      expect(retried).toMatchObject({ status: 'waiting', attempts: 0, error: null, finishedAt: null })
      expect(retried!.timeline.at(-1)!.event).toBe('retried')
      expect((await a.storage.countJobs(ns, 'q')).failed).toBe(0)
      const unchanged = await a.broker.retry(ns, job!.id)
      expect(unchanged).toEqual(retried)
      const [again] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      expect(again).toMatchObject({ id: job!.id, attempts: 1 })
      const cancelled = await a.broker.add(ns, newJob())
      await a.broker.cancel(ns, cancelled.job!.id)
      expect((await a.broker.retry(ns, cancelled.job!.id))!.status).toBe('waiting')
      expect(await a.broker.retry(ns, 'missing')).toBeNull()
    })
  })

  describe('waitForWork', () => {
    it('wakes an idle worker within milliseconds of an add, on another node', async () => {
      const ns = randomNs()
      const signal = new AbortController().signal
      await b.broker.waitForWork(ns, 'q', 20_000, signal)
      const latencies: number[] = []
      for (let i = 0; i < 5; i++) {
        const waiting = b.broker.waitForWork(ns, 'q', 20_000, signal)
        await sleep(20)
        const started = performance.now()
        await a.broker.add(ns, newJob())
        await waiting
        latencies.push(performance.now() - started)
        expect(await b.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 1_000 })).toHaveLength(1)
      }
      expect(Math.max(...latencies)).toBeLessThan(1_000)
    })

    it('returns at once when work is waiting, on abort, and after the timeout', async () => {
      const ns = randomNs()
      const controller = new AbortController()
      await b.broker.waitForWork(ns, 'q', 5_000, controller.signal)
      let started = performance.now()
      await b.broker.waitForWork(ns, 'q', 150, controller.signal)
      expect(performance.now() - started).toBeGreaterThanOrEqual(140)
      const waiting = b.broker.waitForWork(ns, 'q', 20_000, controller.signal)
      started = performance.now()
      controller.abort()
      await waiting
      expect(performance.now() - started).toBeLessThan(1_000)
      await a.broker.add(ns, newJob())
      started = performance.now()
      await b.broker.waitForWork(ns, 'q', 20_000, new AbortController().signal)
      expect(performance.now() - started).toBeLessThan(1_000)
    })

    it('wakes on release and on stall requeue', async () => {
      const ns = randomNs()
      const { job } = await a.broker.add(ns, newJob())
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 150 })
      const signal = new AbortController().signal
      await b.broker.waitForWork(ns, 'q', 20_000, signal)
      let waiting = b.broker.waitForWork(ns, 'q', 20_000, signal)
      await a.broker.release(ns, job!.id, c!.token!)
      await waiting
      const [c2] = await b.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 100 })
      expect(c2!.id).toBe(job!.id)
      waiting = b.broker.waitForWork(ns, 'q', 20_000, signal)
      await sleep(200)
      expect(await a.broker.recoverStalled(ns, 'q', { maxStalledCount: 5, limit: 5 })).toHaveLength(1)
      const started = performance.now()
      await waiting
      expect(performance.now() - started).toBeLessThan(2_000)
    })
  })

  describe('storage', () => {
    it('lists newest first with stable pages under concurrent inserts, per queue, status and namespace', async () => {
      const ns = randomNs()
      const ids: string[] = []
      for (let i = 0; i < 12; i++) {
        const { job } = await a.broker.add(
          ns,
          newJob({ id: `j${String(i).padStart(2, '0')}`, queue: i % 2 ? 'odd' : 'even' }),
        )
        ids.push(job!.id)
      }
      const newestFirst = [...ids].reverse()
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page = await a.storage.listJobs(ns, { limit: 5, cursor })
        seen.push(...page.jobs.map((j) => j.id))
        cursor = page.cursor
        pages++
        if (pages === 1) await a.broker.add(ns, newJob({ id: 'late', queue: 'odd' }))
      } while (cursor)
      expect(seen).toEqual(newestFirst)
      expect(pages).toBe(3)
      const odd = await a.storage.listJobs(ns, { queue: 'odd', limit: 100 })
      expect(odd.jobs.map((j) => j.id)).toEqual(['late', ...newestFirst.filter((_, i) => i % 2 === 0)])
      expect(odd.cursor).toBeNull()
      await a.broker.claim(ns, 'even', { workerId: 'w', limit: 2, leaseMs: 10_000 })
      const active = await a.storage.listJobs(ns, { status: 'active', limit: 10 })
      expect(active.jobs.map((j) => j.id)).toEqual(['j02', 'j00'])
      expect((await a.storage.listJobs(randomNs(), { limit: 10 })).jobs).toEqual([])
      await expect(a.storage.listJobs(ns, { limit: 10, cursor: 'nonsense' })).rejects.toMatchObject({
        name: 'OqronConfigError',
      })
    })

    it('counts jobs per status', async () => {
      const ns = randomNs()
      await a.broker.addBulk(ns, [newJob(), newJob(), newJob({ delayMs: 60_000 }), newJob()])
      const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      await a.broker.complete(ns, c!.id, c!.token!, null)
      await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      expect(await a.storage.countJobs(ns, 'q')).toEqual({
        waiting: 1,
        delayed: 1,
        active: 1,
        completed: 1,
        failed: 0,
        cancelled: 0,
        stalled: 0,
        paused: 0,
      })
    })

    it('removeJob deletes a job unless a worker holds it', async () => {
      const ns = randomNs()
      const waiting = await a.broker.add(ns, newJob())
      const active = await a.broker.add(ns, newJob({ queue: 'busy' }))
      await a.broker.claim(ns, 'busy', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      expect(await a.storage.removeJob(ns, active.job!.id)).toBe(false)
      expect(await a.storage.removeJob(ns, waiting.job!.id)).toBe(true)
      expect(await a.storage.getJob(ns, waiting.job!.id)).toBeNull()
      expect(await a.storage.removeJob(ns, waiting.job!.id)).toBe(false)
      expect(await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 1_000 })).toEqual([])
      expect((await a.storage.listJobs(ns, { limit: 10 })).jobs.map((j) => j.id)).toEqual([active.job!.id])
      // The id is free again, in any queue.
      expect(
        (await a.broker.add(ns, { ...newJob({ queue: 'elsewhere' }), id: waiting.job!.id })).outcome,
      ).toBe('created')
    })

    it('prune removes the oldest finished jobs past the count and age limits, in bounded batches', async () => {
      const ns = randomNs()
      const ids: string[] = []
      for (let i = 0; i < 6; i++) {
        const { job } = await a.broker.add(ns, newJob())
        const [c] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
        await a.broker.complete(ns, job!.id, c!.token!, i)
        ids.push(job!.id)
        await sleep(5)
      }
      const failed = await a.broker.add(ns, newJob())
      const [f] = await a.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
      await a.broker.fail(ns, failed.job!.id, f!.token!, {
        error: { name: 'E', message: 'x' },
        retryDelayMs: null,
      })
      const keepAll = { status: 'completed', keep: null, maxAgeMs: null, limit: 100 } as const
      expect(await a.storage.prune(ns, 'q', keepAll)).toBe(0)
      expect(await a.storage.prune(ns, 'q', { ...keepAll, keep: 2, limit: 3 })).toBe(3)
      expect(await a.storage.getJob(ns, ids[0]!)).toBeNull()
      expect(await a.storage.getJob(ns, ids[3]!)).not.toBeNull()
      expect(await a.storage.prune(ns, 'q', { ...keepAll, keep: 2 })).toBe(1)
      expect((await a.storage.countJobs(ns, 'q')).completed).toBe(2)
      await sleep(50)
      expect(await a.storage.prune(ns, 'q', { ...keepAll, maxAgeMs: 60_000 })).toBe(0)
      expect(await a.storage.prune(ns, 'q', { ...keepAll, maxAgeMs: 20 })).toBe(2)
      expect((await a.storage.countJobs(ns, 'q')).failed).toBe(1)
      expect((await a.storage.listJobs(ns, { limit: 10 })).jobs.map((j) => j.id)).toEqual([failed.job!.id])
      expect(await a.storage.prune(ns, 'q', { ...keepAll, status: 'failed', keep: 0 })).toBe(1)
      expect(await a.storage.getJob(ns, failed.job!.id)).toBeNull()
    })

    it('state: get, set, delete and compare-and-set with deep JSON equality', async () => {
      const ns = randomNs()
      expect(await a.storage.getState(ns, 'cron')).toBeNull()
      await a.storage.setState(ns, 'cron', { b: 1, a: [1, { y: 2, x: 1 }] })
      expect(await b.storage.getState(ns, 'cron')).toEqual({ a: [1, { x: 1, y: 2 }], b: 1 })
      expect(await a.storage.compareAndSetState(ns, 'cron', { b: 2 }, 'x')).toBe(false)
      expect(await a.storage.compareAndSetState(ns, 'cron', { a: [1, { x: 1, y: 2 }], b: 1 }, 'next')).toBe(
        true,
      )
      expect(await a.storage.getState(ns, 'cron')).toBe('next')
      expect(await a.storage.compareAndSetState(ns, 'fresh', null, 1)).toBe(true)
      expect(await a.storage.compareAndSetState(ns, 'fresh', null, 2)).toBe(false)
      const racers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? a : b).storage.compareAndSetState(ns, 'fresh', 1, { winner: i }),
        ),
      )
      expect(racers.filter(Boolean)).toHaveLength(1)
      expect(await a.storage.getState(ns, 'fresh')).toEqual({ winner: racers.indexOf(true) })
      expect(await a.storage.compareAndSetState(ns, 'cron', 'next', null)).toBe(true)
      expect(await a.storage.getState(ns, 'cron')).toBeNull()
      await a.storage.setState(ns, 'fresh', null)
      expect(await a.storage.getState(ns, 'fresh')).toBeNull()
    })
  })

  describe('lock', () => {
    it('TTL locks with owner tokens, fenced and expired by Redis time', async () => {
      const ns = randomNs()
      const t1 = await a.lock.acquire(ns, 'leader', 'node-a', 200)
      expect(t1).toEqual(expect.any(String))
      expect(await b.lock.acquire(ns, 'leader', 'node-b', 200)).toBeNull()
      expect(await b.lock.isOwner(ns, 'leader', t1!)).toBe(true)
      expect(await a.lock.renew(ns, 'leader', t1!, 200)).toBe(true)
      expect(await a.lock.renew(ns, 'leader', 'stale', 200)).toBe(false)
      expect(await a.lock.release(ns, 'leader', 'stale')).toBe(false)
      await sleep(300)
      expect(await a.lock.isOwner(ns, 'leader', t1!)).toBe(false)
      expect(await a.lock.renew(ns, 'leader', t1!, 200)).toBe(false)
      const t2 = await b.lock.acquire(ns, 'leader', 'node-b', 5_000)
      expect(t2).toEqual(expect.any(String))
      expect(t2).not.toBe(t1)
      expect(await a.lock.release(ns, 'leader', t1!)).toBe(false)
      expect(await b.lock.isOwner(ns, 'leader', t2!)).toBe(true)
      expect(await b.lock.release(ns, 'leader', t2!)).toBe(true)
      expect(await a.lock.acquire(ns, 'leader', 'node-a', 5_000)).toEqual(expect.any(String))
      const contenders = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).lock.acquire(ns, 'batch', `n${i}`, 5_000)),
      )
      expect(contenders.filter((t) => t !== null)).toHaveLength(1)
    })
  })

  describe('namespaces', () => {
    it('never share jobs, queues, flags, state or locks', async () => {
      const one = randomNs()
      const two = randomNs()
      const job = newJob()
      expect((await a.broker.add(one, job)).outcome).toBe('created')
      expect((await a.broker.add(two, job)).outcome).toBe('created')
      await a.broker.pause(one, 'q')
      expect(await a.broker.isPaused(two, 'q')).toBe(false)
      const claimed = await a.broker.claim(two, 'q', { workerId: 'w', limit: 5, leaseMs: 10_000 })
      expect(claimed).toHaveLength(1)
      expect((await a.storage.getJob(one, job.id))!.status).toBe('waiting')
      expect(await a.broker.complete(one, job.id, claimed[0]!.token!, 'wrong ns')).toBe(false)
      await a.storage.setState(one, 'k', 1)
      expect(await a.storage.getState(two, 'k')).toBeNull()
      expect(await a.lock.acquire(one, 'l', 'x', 5_000)).not.toBeNull()
      expect(await a.lock.acquire(two, 'l', 'x', 5_000)).not.toBeNull()
      // Names that would collide if joined naively: ("a:b", "c") versus ("a", "b:c").
      const left = `${one}:x`
      await a.broker.add(left, newJob({ id: 'same', queue: 'y' }))
      expect(await a.storage.getJob(one, 'same')).toBeNull()
      expect((await a.broker.claim(one, 'x:y', { workerId: 'w', limit: 5, leaseMs: 1_000 })).length).toBe(0)
    })
  })
}
