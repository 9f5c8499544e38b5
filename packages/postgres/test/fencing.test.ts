import type { JobRecord } from '@oqronkit/core'
import { TIMELINE_LIMIT } from '@oqronkit/core'
import { describe, expect, test } from 'vitest'
import { newJob, runSuite, sharedAdapter, sleep } from './helpers.js'

describe.runIf(runSuite)('broker: leases, fencing, settle, stalls, cancel, retry', () => {
  const { a, ns } = sharedAdapter()

  async function active(
    s: string,
    patch: Parameters<typeof newJob>[1] = {},
    leaseMs = 30_000,
  ): Promise<JobRecord> {
    const { job } = await a.broker.add(s, newJob('q', patch))
    const [c] = await a.broker.claim(s, 'q', { workerId: 'w1', limit: 1, leaseMs })
    expect(c!.id).toBe(job!.id)
    return c!
  }

  /** Every token-taking write, as a function of (id, token); each returns whether it wrote. */
  const writes = (s: string) => ({
    renew: async (id: string, t: string) => (await a.broker.renew(s, id, t, 30_000)) === 'ok',
    progress: (id: string, t: string) => a.broker.progress(s, id, t, 50, 'half'),
    log: (id: string, t: string) => a.broker.log(s, id, t, { at: 0, event: 'log', detail: 'hello' }),
    complete: (id: string, t: string) => a.broker.complete(s, id, t, { ok: true }),
    fail: (id: string, t: string) =>
      a.broker.fail(s, id, t, { error: { name: 'Error', message: 'boom' }, retryDelayMs: null }),
    retryLater: (id: string, t: string) =>
      a.broker.fail(s, id, t, { error: { name: 'Error', message: 'boom' }, retryDelayMs: 0 }),
    release: (id: string, t: string) => a.broker.release(s, id, t),
  })

  test.each(['renew', 'progress', 'log', 'complete', 'fail', 'retryLater', 'release'] as const)(
    '%s with a stale token changes nothing and returns false/lost',
    async (name) => {
      const s = ns()
      const job = await active(s)
      const before = await a.storage.getJob(s, job.id)
      expect(await writes(s)[name](job.id, 'not-the-token')).toBe(false)
      expect(await a.storage.getJob(s, job.id)).toEqual(before)
      // the live token still works afterwards
      expect(await writes(s)[name](job.id, job.token!)).toBe(true)
    },
  )

  test.each(['renew', 'progress', 'log', 'complete', 'fail', 'retryLater', 'release'] as const)(
    '%s after the lease expired by the server clock is rejected, even with the right token',
    async (name) => {
      const s = ns()
      const job = await active(s, {}, 150)
      await sleep(250)
      const before = await a.storage.getJob(s, job.id)
      expect(await writes(s)[name](job.id, job.token!)).toBe(false)
      expect(await a.storage.getJob(s, job.id)).toEqual(before)
    },
  )

  test('a zombie never overwrites the re-run: the old token is dead once the job was recovered and re-claimed', async () => {
    const s = ns()
    const first = await active(s, {}, 150)
    await sleep(250)
    const [rec] = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 3, limit: 10 })
    expect(rec).toMatchObject({
      action: 'requeued',
      job: { id: first.id, status: 'stalled', stalledCount: 1 },
    })
    const [second] = await a.broker.claim(s, 'q', { workerId: 'w2', limit: 1, leaseMs: 30_000 })
    expect(second!.attempts).toBe(2)
    for (const w of Object.values(writes(s))) expect(await w(first.id, first.token!)).toBe(false)
    expect(await a.broker.complete(s, second!.id, second!.token!, 'mine')).toBe(true)
    expect((await a.storage.getJob(s, first.id))!.result).toBe('mine')
  })

  test('renew extends the lease from the server clock; reports cancelled and lost', async () => {
    const s = ns()
    const job = await active(s, {}, 1_000)
    expect(await a.broker.renew(s, job.id, job.token!, 60_000)).toBe('ok')
    const after = await a.storage.getJob(s, job.id)
    expect(after!.lockExpiresAt! - job.lockExpiresAt!).toBeGreaterThan(58_000)
    expect(await a.broker.renew(s, job.id, 'stale', 60_000)).toBe('lost')
    expect(await a.broker.renew(s, 'missing', 'stale', 60_000)).toBe('lost')
    await a.broker.cancel(s, job.id)
    expect(await a.broker.renew(s, job.id, job.token!, 60_000)).toBe('cancelled')
  })

  test('progress, log and complete write what they say; log uses the server clock', async () => {
    const s = ns()
    const job = await active(s)
    expect(await a.broker.progress(s, job.id, job.token!, 40, 'step 2')).toBe(true)
    expect(await a.broker.log(s, job.id, job.token!, { at: 1, event: 'log', detail: 'msg' })).toBe(true)
    let rec = await a.storage.getJob(s, job.id)
    expect(rec).toMatchObject({ progress: 40, progressLabel: 'step 2' })
    const log = rec!.timeline.at(-1)!
    expect(log).toMatchObject({ event: 'log', detail: 'msg', workerId: 'w1' })
    expect(log.at).toBeGreaterThanOrEqual(job.startedAt!)
    expect(await a.broker.complete(s, job.id, job.token!, { charged: true })).toBe(true)
    rec = await a.storage.getJob(s, job.id)
    expect(rec).toMatchObject({
      status: 'completed',
      result: { charged: true },
      token: null,
      lockExpiresAt: null,
      workerId: 'w1', // kept as the last holder, for the audit trail
    })
    expect(rec!.finishedAt).toBeGreaterThanOrEqual(rec!.startedAt!)
    expect(rec!.timeline.at(-1)).toMatchObject({ event: 'completed', workerId: 'w1' })
    expect(await a.broker.complete(s, job.id, job.token!, 'again')).toBe(false)
  })

  test('concurrent completes are grouped into one commit, yet each is fenced and answered on its own', async () => {
    const s = ns()
    await a.broker.addBulk(
      s,
      Array.from({ length: 30 }, () => newJob('q')),
    )
    const jobs = await a.broker.claim(s, 'q', { workerId: 'w', limit: 30, leaseMs: 30_000 })
    const calls = jobs.flatMap((j, i) => [
      a.broker.complete(s, j.id, i % 3 === 0 ? 'stale' : j.token!, { i }),
      a.broker.complete(s, j.id, 'also-stale', { i: -1 }),
    ])
    const answers = await Promise.all(calls)
    for (let i = 0; i < jobs.length; i++) {
      expect(answers[2 * i]).toBe(i % 3 !== 0)
      expect(answers[2 * i + 1]).toBe(false)
    }
    for (const [i, j] of jobs.entries()) {
      const rec = await a.storage.getJob(s, j.id)
      if (i % 3 === 0) expect(rec).toMatchObject({ status: 'active', result: null })
      else expect(rec).toMatchObject({ status: 'completed', result: { i } })
    }
  })

  test('a job twice in one burst, the stale completion first: the valid one still completes it, in each form', async () => {
    // A completion statement takes one entry per job id; a job's second completion in a burst goes in a
    // statement of its own, so a stale token sent beside the valid one can hide neither.
    const s = ns()
    await a.broker.addBulk(
      s,
      Array.from({ length: 9 }, () => newJob('q')),
    )
    const jobs = await a.broker.claim(s, 'q', { workerId: 'w', limit: 9, leaseMs: 30_000 })
    const next = { workerId: 'w', limit: 0, leaseMs: 30_000 }
    const settle = [
      (j: JobRecord, t: string, r: unknown) => a.broker.complete(s, j.id, t, r),
      (j: JobRecord, t: string, r: unknown) => a.broker.complete(s, j.id, t, r, { remove: true }),
      async (j: JobRecord, t: string, r: unknown) =>
        (await a.broker.completeAndClaim!(s, j.id, t, r, { ...next, queue: 'q' })).completed,
    ]
    const answers = await Promise.all(
      jobs.flatMap((j, i) => [
        settle[i % 3]!(j, 'stale', { i: -1 }),
        settle[i % 3]!(j, j.token!, { i }),
        settle[i % 3]!(j, 'stale-again', { i: -2 }),
      ]),
    )
    expect(answers).toEqual(jobs.flatMap(() => [false, true, false]))
    for (const [i, j] of jobs.entries()) {
      const rec = await a.storage.getJob(s, j.id)
      if (i % 3 === 1) expect(rec).toBeNull()
      else expect(rec).toMatchObject({ status: 'completed', result: { i } })
    }
  })

  test('fail with a delay goes back to delayed with a retrying entry, then fails for good', async () => {
    const s = ns()
    const job = await active(s)
    const error = { name: 'TypeError', message: 'nope', stack: 'at x' }
    expect(await a.broker.fail(s, job.id, job.token!, { error, retryDelayMs: 200 })).toBe(true)
    let rec = await a.storage.getJob(s, job.id)
    expect(rec).toMatchObject({ status: 'delayed', error, token: null, workerId: null, finishedAt: null })
    expect(rec!.timeline.at(-1)).toMatchObject({ event: 'retrying', detail: 'nope; next attempt in 200 ms' })
    expect(await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 1000 })).toEqual([])
    await sleep(250)
    const [again] = await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 30_000 })
    expect(again!.attempts).toBe(2)
    expect(await a.broker.fail(s, job.id, again!.token!, { error, retryDelayMs: null })).toBe(true)
    rec = await a.storage.getJob(s, job.id)
    expect(rec).toMatchObject({ status: 'failed', error, attempts: 2 })
    expect(rec!.finishedAt).not.toBeNull()
    expect(rec!.timeline.at(-1)).toMatchObject({ event: 'failed' })
  })

  test('a delay past what a timestamp holds (a retry hint, an add) leaves the job delayed, not the statement failed', async () => {
    const s = ns()
    const job = await active(s)
    const error = { name: 'RateLimited', message: 'later' }
    // e.g. an error's retryAfterMs, which the engine takes as given when finite
    expect(await a.broker.fail(s, job.id, job.token!, { error, retryDelayMs: 1e20 })).toBe(true)
    const rec = await a.storage.getJob(s, job.id)
    expect(rec).toMatchObject({ status: 'delayed', error, token: null })
    expect(rec!.runAt - rec!.createdAt).toBeGreaterThan(1e14)
    const added = [
      await a.broker.add(s, newJob('q', { delayMs: 1e20 })),
      ...(await a.broker.addBulk(s, [newJob('q', { delayMs: 1e20 }), newJob('q')])),
    ]
    expect(added.map((r) => [r.outcome, r.job!.status])).toEqual([
      ['created', 'delayed'],
      ['created', 'delayed'],
      ['created', 'waiting'],
    ])
    for (const r of added) expect(await a.storage.getJob(s, r.job!.id)).toEqual(r.job)
    const claimed = await a.broker.claim(s, 'q', { workerId: 'w', limit: 10, leaseMs: 30_000 })
    expect(claimed.map((j) => j.id)).toEqual([added[2]!.job!.id])
  })

  test('release gives the job back at once without counting the attempt', async () => {
    const s = ns()
    const job = await active(s)
    expect(await a.broker.release(s, job.id, job.token!)).toBe(true)
    const rec = await a.storage.getJob(s, job.id)
    expect(rec).toMatchObject({
      status: 'waiting',
      attempts: 0,
      token: null,
      workerId: null,
      lockExpiresAt: null,
    })
    expect(rec!.timeline.at(-1)).toMatchObject({ event: 'released', workerId: 'w1' })
    const [c] = await a.broker.claim(s, 'q', { workerId: 'w2', limit: 1, leaseMs: 1000 })
    expect(c).toMatchObject({ id: job.id, attempts: 1 })
    const again = await a.storage.getJob(s, job.id)
    expect(again!.timeline.slice(-2)).toMatchObject([
      { event: 'released', workerId: 'w1' },
      { event: 'active', workerId: 'w2', detail: 'attempt 1' },
    ])
  })

  test('stall recovery: live leases untouched; expired ones requeued with a stalled entry; poison past maxStalledCount', async () => {
    const s = ns()
    const live = await active(s, { id: 'live' }, 60_000)
    const job = await active(s, { id: 'dies' }, 100)
    await sleep(200)
    let out = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 1, limit: 10 })
    expect(out.map((o) => [o.job.id, o.action, o.job.status, o.job.stalledCount])).toEqual([
      ['dies', 'requeued', 'stalled', 1],
    ])
    expect(out[0]!.job).toMatchObject({ token: null, workerId: null, lockExpiresAt: null, finishedAt: null })
    expect(out[0]!.job.timeline.at(-1)).toMatchObject({ event: 'stalled', workerId: 'w1', detail: 'stall 1' })
    expect((await a.storage.countJobs(s, 'q')).stalled).toBe(1)
    expect((await a.storage.getJob(s, live.id))!.status).toBe('active')
    // second stall: over maxStalledCount = 1 → failed as poison
    const [again] = await a.broker.claim(s, 'q', { workerId: 'w2', limit: 1, leaseMs: 100 })
    expect(again!.id).toBe(job.id)
    await sleep(200)
    out = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 1, limit: 10 })
    expect(out.map((o) => [o.job.id, o.action, o.job.status, o.job.stalledCount])).toEqual([
      ['dies', 'failed', 'failed', 2],
    ])
    expect(out[0]!.job.error).toMatchObject({
      name: 'StalledJobError',
      message: 'job stalled 2 times (maxStalledCount 1); failed as poison',
    })
    expect(out[0]!.job.workerId).toBe('w2')
    expect(out[0]!.job.finishedAt).not.toBeNull()
    expect(out[0]!.job.timeline.slice(-2).map((e) => e.event)).toEqual(['stalled', 'failed'])
    expect(await a.broker.recoverStalled(s, 'q', { maxStalledCount: 1, limit: 10 })).toEqual([])
  })

  test('a maxStalledCount past the integer range (never poison) still recovers expired leases', async () => {
    const s = ns()
    const job = await active(s, {}, 100)
    await sleep(200)
    const out = await a.broker.recoverStalled(s, 'q', { maxStalledCount: Number.MAX_SAFE_INTEGER, limit: 10 })
    expect(out.map((o) => [o.job.id, o.action, o.job.status, o.job.stalledCount])).toEqual([
      [job.id, 'requeued', 'stalled', 1],
    ])
    const [again] = await a.broker.claim(s, 'q', { workerId: 'w2', limit: 1, leaseMs: 30_000 })
    expect(again!.id).toBe(job.id)
  })

  test('released and recovered jobs go to the front of their priority; others keep FIFO', async () => {
    const s = ns()
    await a.broker.addBulk(s, [newJob('q', { id: 'a' }), newJob('q', { id: 'b' }), newJob('q', { id: 'c' })])
    const [ja] = await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 100 })
    const [jb] = await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 30_000 })
    await a.broker.add(s, newJob('q', { id: 'd' }))
    await a.broker.release(s, jb!.id, jb!.token!)
    await sleep(200)
    await a.broker.recoverStalled(s, 'q', { maxStalledCount: 3, limit: 10 })
    const order = (await a.broker.claim(s, 'q', { workerId: 'w', limit: 10, leaseMs: 1000 })).map((j) => j.id)
    expect(order).toEqual([ja!.id, jb!.id, 'c', 'd'])
  })

  test('a claim with guaranteed stores the consumer guarantee on the job', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'g', guaranteed: true }))
    const [j] = await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 100, guaranteed: false })
    expect(j!.guaranteed).toBe(false)
    await sleep(200)
    const [o] = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 3, limit: 10 })
    expect(o).toMatchObject({ action: 'failed', job: { id: 'g', status: 'failed' } })
  })

  test('an at-most-once job whose worker was lost fails as worker lost', async () => {
    const s = ns()
    const job = await active(s, { guaranteed: false }, 100)
    await sleep(200)
    const [o] = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 5, limit: 10 })
    expect(o).toMatchObject({ action: 'failed', job: { id: job.id, status: 'failed', stalledCount: 0 } })
    expect(o!.job.error).toMatchObject({ name: 'WorkerLostError' })
    expect(o!.job.timeline.at(-1)).toMatchObject({ event: 'worker-lost' })
  })

  test('stall scans from many nodes at once act on each expired lease exactly once, bounded by limit', async () => {
    const s = ns()
    await a.broker.addBulk(
      s,
      Array.from({ length: 40 }, () => newJob('q')),
    )
    await a.broker.claim(s, 'q', { workerId: 'w', limit: 40, leaseMs: 100 })
    await sleep(200)
    const outs = await Promise.all(
      Array.from({ length: 8 }, () => a.broker.recoverStalled(s, 'q', { maxStalledCount: 3, limit: 3 })),
    )
    const first = outs.flat()
    expect(first.length).toBeLessThanOrEqual(24)
    for (const o of outs) expect(o.length).toBeLessThanOrEqual(3)
    let rest: typeof first = []
    for (;;) {
      const more = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 3, limit: 10 })
      if (more.length === 0) break
      rest = rest.concat(more)
    }
    const ids = [...first, ...rest].map((o) => o.job.id)
    expect(ids.length).toBe(40)
    expect(new Set(ids).size).toBe(40)
  })

  test('cancel writes a tombstone, keeps the record, and the job never runs again', async () => {
    const s = ns()
    const job = await active(s)
    const res = await a.broker.cancel(s, job.id)
    expect(res!.cancelled).toBe(true)
    expect(res!.job).toMatchObject({ status: 'cancelled', token: null, lockExpiresAt: null, data: job.data })
    expect(res!.job.finishedAt).not.toBeNull()
    expect(res!.job.timeline.map((e) => e.event)).toEqual(['added', 'active', 'cancelled'])
    expect(await a.broker.complete(s, job.id, job.token!, 'late')).toBe(false)
    expect(await a.broker.claim(s, 'q', { workerId: 'w', limit: 5, leaseMs: 1000 })).toEqual([])
    const again = await a.broker.cancel(s, job.id)
    expect(again).toEqual({ job: res!.job, cancelled: false })
    expect(await a.broker.cancel(s, 'missing')).toBeNull()
    // finished jobs are not cancelled
    const done = await active(s)
    await a.broker.complete(s, done.id, done.token!, 1)
    expect((await a.broker.cancel(s, done.id))!.cancelled).toBe(false)
    expect((await a.storage.getJob(s, done.id))!.status).toBe('completed')
  })

  test('retry moves failed and cancelled jobs back to waiting with attempts reset; others unchanged', async () => {
    const s = ns()
    const job = await active(s)
    await a.broker.fail(s, job.id, job.token!, { error: { name: 'E', message: 'x' }, retryDelayMs: null })
    const r = await a.broker.retry(s, job.id)
    expect(r).toMatchObject({
      status: 'waiting',
      attempts: 0,
      stalledCount: 0,
      error: null,
      finishedAt: null,
    })
    expect(r!.timeline.at(-1)).toMatchObject({ event: 'retried' })
    const [c] = await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 30_000 })
    expect(c).toMatchObject({ id: job.id, attempts: 1 })
    expect(await a.broker.retry(s, job.id)).toMatchObject({ status: 'active' })
    await a.broker.cancel(s, job.id)
    expect(await a.broker.retry(s, job.id)).toMatchObject({ status: 'waiting' })
    expect(await a.broker.retry(s, 'missing')).toBeNull()
  })

  test(`the timeline keeps the newest ${TIMELINE_LIMIT} entries`, async () => {
    const s = ns()
    const job = await active(s)
    for (let i = 0; i < TIMELINE_LIMIT + 10; i++) {
      await a.broker.log(s, job.id, job.token!, { at: 0, event: 'log', detail: String(i) })
    }
    const rec = await a.storage.getJob(s, job.id)
    expect(rec!.timeline.length).toBe(TIMELINE_LIMIT)
    expect(rec!.timeline.at(-1)!.detail).toBe(String(TIMELINE_LIMIT + 9))
    expect(rec!.timeline[0]!.detail).toBe('10')
  })

  test('the active entry a claim leaves out is read back, and written before any later entry, in order', async () => {
    const s = ns()
    const events = async (id: string) => (await a.storage.getJob(s, id))!.timeline.map((e) => e.event)
    // every transition out of `active` keeps the attempt's entry before its own
    const job = await active(s)
    expect(await events(job.id)).toEqual(['added', 'active'])
    expect(await a.broker.progress(s, job.id, job.token!, 10, null)).toBe(true)
    expect(await a.broker.log(s, job.id, job.token!, { at: 0, event: 'log', detail: 'x' })).toBe(true)
    expect(await events(job.id)).toEqual(['added', 'active', 'progress', 'log'])
    const retry = { error: { name: 'E', message: 'x' }, retryDelayMs: 0 }
    expect(await a.broker.fail(s, job.id, job.token!, retry)).toBe(true)
    const [c2] = await a.broker.claim(s, 'q', { workerId: 'w2', limit: 1, leaseMs: 30_000 })
    expect(await a.broker.release(s, job.id, c2!.token!)).toBe(true)
    const [c3] = await a.broker.claim(s, 'q', { workerId: 'w3', limit: 1, leaseMs: 30_000 })
    const next = { workerId: 'w4', limit: 1, leaseMs: 30_000 }
    const done = await a.broker.completeAndClaim!(s, job.id, c3!.token!, 'ok', next)
    expect(done).toEqual({ completed: true, jobs: [] })
    const rec = (await a.storage.getJob(s, job.id))!
    expect(rec.timeline.map((e) => e.event)).toEqual([
      'added',
      'active',
      'progress',
      'log',
      'retrying',
      'active',
      'released',
      'active',
      'completed',
    ])
    expect(rec.timeline[1]).toEqual({
      at: job.startedAt,
      event: 'active',
      workerId: 'w1',
      detail: 'attempt 1',
    })
    expect(rec.timeline[5]).toEqual({
      at: c2!.startedAt,
      event: 'active',
      workerId: 'w2',
      detail: 'attempt 2',
    })
    expect(rec.timeline[7]).toEqual({
      at: c3!.startedAt,
      event: 'active',
      workerId: 'w3',
      detail: 'attempt 2',
    })

    for (const end of ['cancel', 'stall', 'poison'] as const) {
      const j = await active(s, { maxAttempts: 3 }, end === 'cancel' ? 30_000 : 100)
      if (end === 'poison') {
        await sleep(200)
        await a.broker.recoverStalled(s, 'q', { maxStalledCount: 1, limit: 10 })
        await a.broker.claim(s, 'q', { workerId: 'w1', limit: 1, leaseMs: 100 })
      }
      if (end === 'cancel') await a.broker.cancel(s, j.id)
      else {
        await sleep(200)
        await a.broker.recoverStalled(s, 'q', { maxStalledCount: 1, limit: 10 })
      }
      expect(await events(j.id)).toEqual(
        {
          cancel: ['added', 'active', 'cancelled'],
          stall: ['added', 'active', 'stalled'],
          poison: ['added', 'active', 'stalled', 'active', 'stalled', 'failed'],
        }[end],
      )
      await a.storage.removeJob(s, j.id)
    }
  })

  test(`a full timeline still keeps the newest ${TIMELINE_LIMIT} entries around a claim's active entry`, async () => {
    const s = ns()
    const job = await active(s)
    for (let i = 0; i < TIMELINE_LIMIT + 5; i++) {
      await a.broker.log(s, job.id, job.token!, { at: 0, event: 'log', detail: String(i) })
    }
    expect(await a.broker.release(s, job.id, job.token!)).toBe(true)
    const [c] = await a.broker.claim(s, 'q', { workerId: 'w2', limit: 1, leaseMs: 30_000 })
    const read = async () => (await a.storage.getJob(s, job.id))!.timeline
    let tl = await read()
    expect(tl.length).toBe(TIMELINE_LIMIT)
    expect(tl.slice(-3).map((e) => e.detail ?? e.event)).toEqual([
      String(TIMELINE_LIMIT + 4),
      'released',
      'attempt 1',
    ])
    expect(tl[0]!.detail).toBe('7')
    // the listing reads the same timeline
    const listed = (await a.storage.listJobs(s, { queue: 'q', status: 'active', limit: 10 })).jobs[0]!
    expect(listed.timeline).toEqual(tl)
    expect(await a.broker.log(s, job.id, c!.token!, { at: 0, event: 'log', detail: 'after' })).toBe(true)
    tl = await read()
    expect(tl.length).toBe(TIMELINE_LIMIT)
    expect(tl.slice(-4).map((e) => e.detail ?? e.event)).toEqual([
      String(TIMELINE_LIMIT + 4),
      'released',
      'attempt 1',
      'after',
    ])
    expect(tl[0]!.detail).toBe('8')
    expect(await a.broker.release(s, job.id, c!.token!)).toBe(true)
    const [c2] = await a.broker.claim(s, 'q', { workerId: 'w3', limit: 1, leaseMs: 30_000 })
    expect(await a.broker.complete(s, job.id, c2!.token!, 'ok')).toBe(true)
    tl = await read()
    expect(tl.length).toBe(TIMELINE_LIMIT)
    expect(tl.slice(-3).map((e) => e.event)).toEqual(['released', 'active', 'completed'])
    expect(tl.at(-2)).toMatchObject({ workerId: 'w3', detail: 'attempt 1' })
  })
})
