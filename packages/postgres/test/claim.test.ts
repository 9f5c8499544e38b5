import type { JobRecord } from '@oqronkit/core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { PostgresAdapters } from '../src/index.js'
import { newJob, openAdapter, runSuite, sleep } from './helpers.js'

describe.runIf(runSuite)('broker: add and claim', () => {
  let a: PostgresAdapters
  let cleanup: () => Promise<void>
  let n = 0
  const ns = () => `ns-${++n}`
  const claim = (ns: string, queue: string, limit = 10, leaseMs = 30_000, workerId = 'w1') =>
    a.broker.claim(ns, queue, { workerId, limit, leaseMs })

  beforeAll(async () => {
    ;({ a, cleanup } = await openAdapter())
  })
  afterAll(async () => {
    await cleanup()
  })

  test('many concurrent claimers: every job is claimed exactly once, with one unique token each', async () => {
    const s = ns()
    const jobs = Array.from({ length: 300 }, () => newJob('q'))
    await a.broker.addBulk(s, jobs)
    const claimers = Array.from({ length: 12 }, async (_, w) => {
      const got: JobRecord[] = []
      for (;;) {
        const batch = await claim(s, 'q', 7, 30_000, `w${w}`)
        if (batch.length === 0) break
        got.push(...batch)
      }
      return got
    })
    const all = (await Promise.all(claimers)).flat()
    expect(all.length).toBe(300)
    expect(new Set(all.map((j) => j.id)).size).toBe(300)
    expect(new Set(all.map((j) => j.token)).size).toBe(300)
    for (const j of all) {
      expect(j.status).toBe('active')
      expect(j.attempts).toBe(1)
      expect(j.timeline).toEqual([]) // a claim returns no timeline; the stored one has the entry
      expect(j.lockExpiresAt! - j.startedAt!).toBeGreaterThanOrEqual(29_999)
    }
    for (const j of all.slice(0, 20)) {
      const stored = await a.storage.getJob(s, j.id)
      expect(stored!.timeline.at(-1)).toMatchObject({ event: 'active', workerId: j.workerId })
    }
    const counts = await a.storage.countJobs(s, 'q')
    expect(counts.active).toBe(300)
    expect(counts.waiting).toBe(0)
  })

  test('claim sets lease, token, status, attempts, startedAt and the timeline from the server clock', async () => {
    const s = ns()
    const { job: added } = await a.broker.add(s, newJob('q'))
    const [c] = await claim(s, 'q', 1, 5_000, 'worker-a')
    expect(c).toMatchObject({ id: added!.id, status: 'active', workerId: 'worker-a', attempts: 1 })
    expect(typeof c!.token).toBe('string')
    expect(c!.startedAt).toBeGreaterThanOrEqual(added!.createdAt)
    expect(c!.lockExpiresAt! - c!.startedAt!).toBeGreaterThanOrEqual(4_999)
    expect(c!.lockExpiresAt! - c!.startedAt!).toBeLessThanOrEqual(5_001)
    // The claim returns no timeline; the stored record has the `active` entry, stamped at startedAt.
    expect(c!.timeline).toEqual([])
    const stored = await a.storage.getJob(s, c!.id)
    expect(stored!.timeline.map((e) => e.event)).toEqual(['added', 'active'])
    expect(stored!.timeline[1]).toEqual({
      at: c!.startedAt,
      event: 'active',
      workerId: 'worker-a',
      detail: 'attempt 1',
    })
    expect(stored).toEqual({ ...c, timeline: stored!.timeline })
  })

  test('limit bounds a batch; an empty queue and limit 0 return []', async () => {
    const s = ns()
    await a.broker.addBulk(
      s,
      Array.from({ length: 5 }, () => newJob('q')),
    )
    expect(await claim(s, 'q', 0)).toEqual([])
    expect((await claim(s, 'q', 3)).length).toBe(3)
    expect((await claim(s, 'q', 3)).length).toBe(2)
    expect(await claim(s, 'q', 3)).toEqual([])
    expect(await claim(s, 'other', 3)).toEqual([])
  })

  test('priority first (higher runs first), FIFO within a priority, LIFO jobs newest first', async () => {
    const s = ns()
    const order: string[] = []
    const add = async (id: string, priority: number, lifo = false) => {
      await a.broker.add(s, newJob('q', { id, priority, lifo }))
    }
    await add('f1', 0)
    await add('f2', 0)
    await add('h1', 5)
    await add('l1', 0, true)
    await add('f3', 0)
    await add('h2', 5)
    await add('l2', 0, true)
    await add('low', -1)
    for (const j of await claim(s, 'q', 3)) order.push(j.id)
    for (;;) {
      const [j] = await claim(s, 'q', 1)
      if (!j) break
      order.push(j.id)
    }
    expect(order).toEqual(['h1', 'h2', 'l2', 'l1', 'f1', 'f2', 'f3', 'low'])
  })

  test('a batch comes back in delivery order', async () => {
    const s = ns()
    await a.broker.addBulk(s, [
      newJob('q', { id: 'a' }),
      newJob('q', { id: 'b', priority: 2 }),
      newJob('q', { id: 'c' }),
      newJob('q', { id: 'd', priority: 1 }),
    ])
    expect((await claim(s, 'q', 10)).map((j) => j.id)).toEqual(['b', 'd', 'a', 'c'])
  })

  test('delayed jobs are not claimable before runAt (server clock) and are claimed once due', async () => {
    const s = ns()
    const { job, outcome } = await a.broker.add(s, newJob('q', { id: 'later', delayMs: 400 }))
    expect(outcome).toBe('created')
    expect(job!.status).toBe('delayed')
    expect(job!.runAt - job!.createdAt).toBeGreaterThanOrEqual(399)
    expect(job!.timeline.map((e) => e.event)).toEqual(['added'])
    await a.broker.add(s, newJob('q', { id: 'now' }))
    expect((await claim(s, 'q')).map((j) => j.id)).toEqual(['now'])
    await sleep(450)
    const [c] = await claim(s, 'q')
    expect(c).toMatchObject({ id: 'later', status: 'active', attempts: 1 })
  })

  test('a due delayed job joins its priority as if promoted now: after waiting jobs, a LIFO one first', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'd-high', delayMs: 50, priority: 3 }))
    await a.broker.add(s, newJob('q', { id: 'd-fifo', delayMs: 50 }))
    await a.broker.add(s, newJob('q', { id: 'd-lifo', delayMs: 50, lifo: true }))
    await a.broker.add(s, newJob('q', { id: 'w' }))
    await sleep(100)
    expect((await claim(s, 'q')).map((j) => j.id)).toEqual(['d-high', 'd-lifo', 'w', 'd-fifo'])
  })

  test('idempotent add: 100 concurrent adds with one id make one job; every caller gets that job', async () => {
    const s = ns()
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => a.broker.add(s, newJob('q', { id: 'same', data: { i } }))),
    )
    expect(results.filter((r) => r.outcome === 'created').length).toBe(1)
    expect(results.filter((r) => r.outcome === 'duplicate').length).toBe(99)
    const created = results.find((r) => r.outcome === 'created')!.job!
    for (const r of results) expect(r.job!.data).toEqual(created.data)
    expect((await a.storage.countJobs(s, 'q')).waiting).toBe(1)
    expect((await claim(s, 'q')).length).toBe(1)
  })

  test('a duplicate returns the existing record unchanged, even while it is active', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'x', data: 1 }))
    const [c] = await claim(s, 'q')
    const dup = await a.broker.add(s, newJob('q', { id: 'x', data: 2 }))
    expect(dup).toEqual({ outcome: 'duplicate', job: { ...c, timeline: dup.job!.timeline } })
    expect(dup.job!.timeline.map((e) => e.event)).toEqual(['added', 'active'])
  })

  test('addBulk: results in input order, each add atomic on its own, duplicates inside the batch', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'old' }))
    const res = await a.broker.addBulk(s, [
      newJob('q', { id: 'n1' }),
      newJob('q', { id: 'old' }),
      newJob('q', { id: 'n2', delayMs: 10_000 }),
      newJob('q', { id: 'n1' }),
    ])
    expect(res.map((r) => [r.outcome, r.job?.id, r.job?.status])).toEqual([
      ['created', 'n1', 'waiting'],
      ['duplicate', 'old', 'waiting'],
      ['created', 'n2', 'delayed'],
      ['duplicate', 'n1', 'waiting'],
    ])
    expect(await a.broker.addBulk(s, [])).toEqual([])
  })

  test('pause: adds accepted, claims return [] until resume', async () => {
    const s = ns()
    expect(await a.broker.isPaused(s, 'q')).toBe(false)
    await a.broker.pause(s, 'q')
    expect(await a.broker.isPaused(s, 'q')).toBe(true)
    expect((await a.broker.add(s, newJob('q'))).outcome).toBe('created')
    expect(await claim(s, 'q')).toEqual([])
    await a.broker.resume(s, 'q')
    expect(await a.broker.isPaused(s, 'q')).toBe(false)
    expect((await claim(s, 'q')).length).toBe(1)
  })

  test('disabled: hold stores paused, skip and reject store nothing; claims return []; enabling releases held jobs', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'before' }))
    await a.broker.setDisabled(s, 'q', true)
    expect(await a.broker.isDisabled(s, 'q')).toBe(true)
    const held = await a.broker.add(s, newJob('q', { id: 'held', disabledBehavior: 'hold' }))
    expect(held.outcome).toBe('held')
    expect(held.job).toMatchObject({ status: 'paused' })
    expect(held.job!.timeline.map((e) => e.event)).toEqual(['added', 'held'])
    const heldLater = await a.broker.add(s, newJob('q', { id: 'held-later', delayMs: 60_000 }))
    expect(heldLater.outcome).toBe('held')
    expect(await a.broker.add(s, newJob('q', { id: 'skip', disabledBehavior: 'skip' }))).toEqual({
      outcome: 'skipped',
      job: null,
    })
    expect(await a.broker.add(s, newJob('q', { id: 'rej', disabledBehavior: 'reject' }))).toEqual({
      outcome: 'rejected',
      job: null,
    })
    expect((await a.broker.add(s, newJob('q', { id: 'before', disabledBehavior: 'skip' }))).outcome).toBe(
      'duplicate',
    )
    expect(await a.storage.getJob(s, 'skip')).toBeNull()
    expect(await a.storage.getJob(s, 'rej')).toBeNull()
    expect(await claim(s, 'q')).toEqual([])
    // other queues are unaffected
    expect((await a.broker.add(s, newJob('other'))).outcome).toBe('created')
    await a.broker.setDisabled(s, 'q', false)
    expect(await a.broker.isDisabled(s, 'q')).toBe(false)
    expect((await a.storage.getJob(s, 'held-later'))!.status).toBe('delayed')
    const got = await claim(s, 'q')
    expect(got.map((j) => j.id)).toEqual(['before', 'held'])
    const stored = await a.storage.getJob(s, got[1]!.id)
    expect(stored!.timeline.map((e) => e.event)).toEqual(['added', 'held', 'resumed', 'active'])
  })

  test('enabling while adds race: no held job is left behind', async () => {
    const s = ns()
    await a.broker.setDisabled(s, 'q', true)
    const adds = Array.from({ length: 60 }, (_, i) => a.broker.add(s, newJob('q', { id: `r${i}` })))
    await sleep(5)
    await a.broker.setDisabled(s, 'q', false)
    const res = await Promise.all(adds)
    expect(res.every((r) => r.outcome === 'created' || r.outcome === 'held')).toBe(true)
    const counts = await a.storage.countJobs(s, 'q')
    expect(counts.paused).toBe(0)
    expect(counts.waiting).toBe(60)
  })

  test('namespaces are isolated: jobs, flags, counts', async () => {
    await a.broker.add('iso-a', newJob('q', { id: 'shared-id', data: 'a' }))
    const b = await a.broker.add('iso-b', newJob('q', { id: 'shared-id', data: 'b' }))
    expect(b.outcome).toBe('created')
    await a.broker.pause('iso-a', 'q')
    expect(await a.broker.isPaused('iso-b', 'q')).toBe(false)
    expect(await claim('iso-a', 'q')).toEqual([])
    const [c] = await claim('iso-b', 'q')
    expect(c!.data).toBe('b')
    expect((await a.storage.getJob('iso-a', 'shared-id'))!.status).toBe('waiting')
    expect((await a.storage.countJobs('iso-a', 'q')).active).toBe(0)
    await a.lock.acquire('iso-a', 'k', 'o', 10_000)
    expect(await a.lock.acquire('iso-b', 'k', 'o', 10_000)).not.toBeNull()
  })
})
