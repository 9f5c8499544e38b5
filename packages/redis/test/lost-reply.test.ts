import { OqronConfigError } from '@oqronkit/core'
import { freezeDrill, LossyProxy, type ReplyLoss } from '@oqronkit/testkit/proxy'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { countKeys, deleteKeys, newJob, REDIS_URL, randomNs, randomPrefix, requireRedis } from './helpers.js'

const available = await requireRedis(REDIS_URL)

/**
 * Loses the reply to the first command whose bytes contain `marker`: the command reaches Redis and runs, and
 * the connection is cut as soon as Redis starts answering. ioredis reconnects and re-sends the commands
 * left without a reply. With `cut: false` the connection stays open and silent: a half-open connection.
 */
function loseCommandReply(marker: string, { cut = true } = {}): () => ReplyLoss {
  const wanted = Buffer.from(marker)
  return () => ({ sent: (chunk) => chunk.includes(wanted), cut: () => cut })
}

/**
 * An opened adapter whose connection goes through a `LossyProxy` in front of REDIS_URL, under a prefix of its
 * own; `close()` closes both, deletes the prefix's keys and checks none is left.
 */
async function proxiedAdapter(tag: string, options: { replyTimeoutMs?: number } = {}) {
  const prefix = randomPrefix(tag)
  const target = new URL(REDIS_URL)
  const proxy = await LossyProxy.start({ host: target.hostname, port: Number(target.port || 6379) })
  const url = `redis://127.0.0.1:${proxy.port}`
  const a = redisAdapter({ url }, { prefix, ...options })
  await a.open?.()
  return {
    proxy,
    a,
    prefix,
    /** Another adapter on the same proxy and prefix. */
    another: () => redisAdapter({ url }, { prefix, ...options }),
    async close() {
      await a.close?.()
      proxy.close()
      const admin = new Redis(REDIS_URL)
      admin.on('error', () => {})
      try {
        await deleteKeys(admin, prefix)
        expect(await countKeys(admin, prefix)).toBe(0)
      } finally {
        admin.disconnect()
      }
    },
  }
}

describe.skipIf(!available)('a script whose reply is lost is answered again, not run again', () => {
  let proxy: LossyProxy
  let a: ReturnType<typeof redisAdapter>
  let close = async () => {}
  const request = { workerId: 'w-lost', leaseMs: 60_000 }
  let n = 0
  const queue = () => `lost${++n}`

  beforeAll(async () => {
    ;({ proxy, a, close } = await proxiedAdapter('lost'))
  })
  afterAll(() => close())

  it('add: the re-sent call reports the job it created, not a duplicate of it', async () => {
    const ns = randomNs()
    const q = queue()
    const job = newJob({ queue: q })
    const losing = proxy.loseReply(loseCommandReply(job.id))
    const [result] = await a.broker.addBulk(ns, [job])
    await losing
    // Before: the re-send found the job its first run stored and answered `duplicate` (no `added` event).
    expect(result).toMatchObject({ outcome: 'created', job: { id: job.id, status: 'waiting' } })
    const stored = await a.storage.getJob(ns, job.id)
    expect(result!.job).toMatchObject({ createdAt: stored!.createdAt })
    expect(await a.storage.countJobs(ns, q)).toMatchObject({ waiting: 1 })
    // Another call adding the same id still gets the duplicate.
    expect(await a.broker.add(ns, job)).toMatchObject({ outcome: 'duplicate', job: { id: job.id } })
  })

  it('claim: the re-sent call returns the jobs the first run claimed and claims no more', async () => {
    const ns = randomNs()
    const q = queue()
    const jobs = Array.from({ length: 4 }, () => newJob({ queue: q }))
    await a.broker.addBulk(ns, jobs)
    const losing = proxy.loseReply(loseCommandReply(`:${q}`))
    const got = await a.broker.claim(ns, q, { ...request, limit: 2 })
    await losing
    // Before: the re-send claimed jobs 3 and 4, and 1 and 2 stayed active under tokens nobody held until
    // their lease expired.
    expect(got.map((j) => j.id)).toEqual([jobs[0]!.id, jobs[1]!.id])
    expect(await a.storage.countJobs(ns, q)).toMatchObject({ active: 2, waiting: 2 })
    for (const job of got) {
      const stored = await a.storage.getJob(ns, job.id)
      expect(stored).toMatchObject({ status: 'active', token: job.token, attempts: 1, workerId: 'w-lost' })
      expect(job).toMatchObject({ status: 'active', attempts: 1, lockExpiresAt: stored!.lockExpiresAt })
    }
    expect(await a.broker.complete(ns, got[0]!.id, got[0]!.token!, 'ok')).toBe(true)
  })

  it('complete: the re-sent call reports the completion the first run made, instead of rejecting it', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const losing = proxy.loseReply(loseCommandReply(`:${q}`))
    // Before: the re-send found the job completed (token cleared) and answered false (lease lost).
    expect(await a.broker.complete(ns, job!.id, job!.token!, { v: 1 })).toBe(true)
    await losing
    expect(await a.storage.getJob(ns, job!.id)).toMatchObject({ status: 'completed', result: { v: 1 } })
  })

  it('completeAndClaim: the re-sent call answers the completion and the successors the first run claimed', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const next = Array.from({ length: 3 }, () => newJob({ queue: q }))
    await a.broker.addBulk(ns, next)
    const losing = proxy.loseReply(loseCommandReply(`:${q}`))
    const outcome = await a.broker.completeAndClaim!(ns, job!.id, job!.token!, 'done', {
      ...request,
      limit: 2,
    })
    await losing
    expect(outcome.completed).toBe(true)
    expect(outcome.jobs.map((j) => j.id)).toEqual([next[0]!.id, next[1]!.id])
    expect(await a.storage.countJobs(ns, q)).toMatchObject({ completed: 1, active: 2, waiting: 1 })
  })
  it('fail: the re-sent call reports the failure the first run stored, instead of rejecting it', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const losing = proxy.loseReply(loseCommandReply(job!.token!))
    const error = { name: 'Error', message: 'boom' }
    // Before: the re-send found the lease cleared and answered false (lease lost).
    expect(await a.broker.fail(ns, job!.id, job!.token!, { error, retryDelayMs: 0 })).toBe(true)
    await losing
    expect(await a.storage.getJob(ns, job!.id)).toMatchObject({ status: 'waiting', attempts: 1 })
    // The marker answers only that token: a stale token is still rejected.
    expect(
      await a.broker.fail(ns, job!.id, job!.token!.replace(/^[^.]*/, 'stale'), { error, retryDelayMs: 0 }),
    ).toBe(false)
  })

  it('cancel: the re-sent call reports the cancellation the first run made, not a finished job', async () => {
    const ns = randomNs()
    const q = queue()
    const { job } = await a.broker.add(ns, newJob({ queue: q }))
    // The namespace's cancel channel is an argument of the cancel script only (not of the id lookup before it).
    const losing = proxy.loseReply(loseCommandReply(`:${ns}:cancel`))
    const outcome = await a.broker.cancel(ns, job!.id)
    await losing
    // Before: the re-send found the job cancelled by its own first run and answered "already finished", so
    // cancelJob() returned false and emitted no `cancelled` event.
    expect(outcome).toMatchObject({ cancelled: true, job: { id: job!.id, status: 'cancelled' } })
    // Another call still finds the job finished.
    expect(await a.broker.cancel(ns, job!.id)).toMatchObject({ cancelled: false })
  })

  it('progress and log: the re-sent call writes no second timeline entry', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const label = `half-${ns}`
    let losing = proxy.loseReply(loseCommandReply(label))
    expect(await a.broker.progress(ns, job!.id, job!.token!, 50, label)).toBe(true)
    await losing
    const detail = `note-${ns}`
    losing = proxy.loseReply(loseCommandReply(detail))
    expect(await a.broker.log(ns, job!.id, job!.token!, { at: 0, event: 'log', detail })).toBe(true)
    await losing
    // Before: each re-send ran again and appended its entry a second time.
    const stored = await a.storage.getJob(ns, job!.id)
    expect(stored).toMatchObject({ progress: 50, progressLabel: label })
    expect(stored!.timeline.filter((e) => e.event === 'progress')).toHaveLength(1)
    expect(stored!.timeline.filter((e) => e.event === 'log')).toHaveLength(1)
    // Another call writes its entry; a stale token still changes nothing.
    expect(await a.broker.log(ns, job!.id, job!.token!, { at: 0, event: 'log', detail })).toBe(true)
    expect(await a.broker.log(ns, job!.id, 'stale', { at: 0, event: 'log', detail })).toBe(false)
    expect((await a.storage.getJob(ns, job!.id))!.timeline.filter((e) => e.event === 'log')).toHaveLength(2)
  })

  it('removeJob: the re-sent call reports the removal the first run made, not a missing job', async () => {
    const ns = randomNs()
    const q = queue()
    const { job } = await a.broker.add(ns, newJob({ queue: q }))
    // The job's timeline key is a key of the remove script (not of the id lookup before it).
    const losing = proxy.loseReply(loseCommandReply(`}:t:${job!.id}`))
    const removed = await a.storage.removeJob(ns, job!.id)
    await losing
    // Before: the re-send found no job (its own first run had deleted it) and answered false.
    expect(removed).toBe(true)
    expect(await a.storage.getJob(ns, job!.id)).toBeNull()
    expect(await a.storage.removeJob(ns, job!.id)).toBe(false)
  })

  it('lock acquire: the re-sent call reports the lock its first run took, instead of null', async () => {
    const ns = randomNs()
    const owner = `owner-${ns}`
    const losing = proxy.loseReply(loseCommandReply(owner))
    const token = await a.lock.acquire(ns, 'leader', owner, 60_000)
    await losing
    // Before: the re-send found the lock its first run took and answered "held by another": acquire returned
    // null, and the lock stayed held by a token nobody knew until its TTL ran out (no leader meanwhile).
    expect(token).toEqual(expect.any(String))
    expect(await a.lock.isOwner(ns, 'leader', token!)).toBe(true)
    expect(await a.lock.acquire(ns, 'leader', 'another-owner', 60_000)).toBeNull()
    expect(await a.lock.release(ns, 'leader', token!)).toBe(true)
  })
})

describe.skipIf(!available)(
  'a connection that stops answering (half-open) is closed after replyTimeoutMs',
  () => {
    let proxy: LossyProxy
    let a: ReturnType<typeof redisAdapter>
    let another: () => ReturnType<typeof redisAdapter>
    let prefix: string
    let close = async () => {}
    const request = { workerId: 'w-silent', leaseMs: 60_000 }
    const replyTimeoutMs = 400

    beforeAll(async () => {
      ;({ proxy, a, another, prefix, close } = await proxiedAdapter('silent', { replyTimeoutMs }))
    })
    afterAll(() => close())

    it('claim: answered on a new connection after replyTimeoutMs (the jobs of its first run), not after TCP keepalive', async () => {
      const ns = randomNs()
      const q = 'silent1'
      const jobs = Array.from({ length: 4 }, () => newJob({ queue: q }))
      await a.broker.addBulk(ns, jobs)
      void proxy.loseReply(loseCommandReply(`:${q}`, { cut: false }))
      const t0 = performance.now()
      const got = await a.broker.claim(ns, q, { ...request, limit: 2 })
      const waited = performance.now() - t0
      expect(waited).toBeGreaterThanOrEqual(replyTimeoutMs - 20)
      expect(waited).toBeLessThan(replyTimeoutMs * 1.25 + 1_000)
      expect(got.map((j) => j.id)).toEqual([jobs[0]!.id, jobs[1]!.id])
      expect(await a.storage.countJobs(ns, q)).toMatchObject({ active: 2, waiting: 2 })
      // The new connection answers at once.
      expect(await a.broker.renew(ns, got[0]!.id, got[0]!.token!, 60_000)).toBe('ok')
    })

    it('an idle connection is left alone however long it stays quiet', async () => {
      const ns = randomNs()
      await a.broker.add(ns, newJob({ queue: 'silent2' }))
      const connections = proxy.accepted
      await new Promise((r) => setTimeout(r, replyTimeoutMs * 2))
      // A command sent after a quiet spell is not taken for unanswered: no connection is closed for it.
      for (let i = 0; i < 20; i++) {
        expect(await a.storage.countJobs(ns, 'silent2')).toMatchObject({ waiting: 1 })
        await new Promise((r) => setTimeout(r, replyTimeoutMs / 8))
      }
      expect(proxy.accepted).toBe(connections)
    })

    it('a pub/sub connection that goes half-open alone is replaced: waitForWork wakes on an add again', async () => {
      // The command connection stays healthy, so no command misses its deadline: only the PING on the idle
      // subscriber can find it. The waits' own timeout is 20 s; without the PING the second one runs out.
      const ns = randomNs()
      const q = 'silent-sub'
      const worker = another()
      await worker.open?.()
      const direct = redisAdapter({ url: REDIS_URL }, { prefix })
      const claimNone = async () =>
        expect(await worker.broker.claim(ns, q, { ...request, limit: 5 })).toEqual([])
      const wait = () => worker.broker.waitForWork(ns, q, 20_000, new AbortController().signal)
      try {
        await claimNone()
        // The first wait makes the subscription and returns at once (a publish may have come before it); the
        // second one parks on the live subscription.
        await wait()
        const parked = wait()
        let woke = false
        void parked.then(() => {
          woke = true
        })
        await new Promise((r) => setTimeout(r, 200))
        expect(woke).toBe(false)
        const frozenAt = performance.now()
        expect(proxy.freeze((sent) => /subscribe/i.test(sent))).toBeGreaterThanOrEqual(1)
        // Found by the PING (idle for replyTimeoutMs, then unanswered for replyTimeoutMs, each checked every
        // quarter of it) and replaced; the parked wait is woken then, since messages may have been missed.
        await parked
        expect(performance.now() - frozenAt).toBeLessThan(replyTimeoutMs * 2.5 + 1_000)
        await claimNone()
        const again = wait()
        await new Promise((r) => setTimeout(r, 100))
        const t0 = performance.now()
        await direct.broker.add(ns, newJob({ queue: q }))
        await again
        expect(performance.now() - t0).toBeLessThan(1_000)
      } finally {
        await worker.close?.()
        await direct.close?.()
      }
    })

    it('freezeDrill: every job completes once, resumed within replyTimeoutMs of the freeze; idle wake-ups live', async () => {
      const report = await freezeDrill({
        proxy,
        adapters: another(),
      })
      expect(report.completed).toBe(report.jobs)
      // Without replyTimeoutMs the worker waits on the frozen connection for TCP keepalive (minutes).
      expect(report.resumedAfterMs).not.toBeNull()
      expect(report.resumedAfterMs!).toBeLessThan(replyTimeoutMs * 1.25 + 2_000)
      expect(report.ranTwice).toBe(0)
      expect(report.leaseLost).toEqual([])
      // The pub/sub connections were frozen too and renewed with the command connection: wake-ups work.
      expect(report.idlePickupMs).not.toBeNull()
      expect(report.idlePickupMs!).toBeLessThan(1_000)
    })

    it('replyTimeoutMs must be a non-negative integer', () => {
      for (const bad of [-1, 1.5, Number.NaN]) {
        expect(() => redisAdapter({ url: REDIS_URL }, { replyTimeoutMs: bad })).toThrow(OqronConfigError)
      }
    })
  },
)
