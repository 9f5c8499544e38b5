import { OqronConfigError } from '@oqronkit/core'
import { describe, expect, test } from 'vitest'
import { newJob, runSuite, sharedAdapter, sleep } from './helpers.js'

describe.runIf(runSuite)('storage and locks', () => {
  const { a, ns } = sharedAdapter()

  async function finish(s: string, queue: string, count: number, how: 'complete' | 'fail' = 'complete') {
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      await a.broker.add(s, newJob(queue))
      const [j] = await a.broker.claim(s, queue, { workerId: 'w', limit: 1, leaseMs: 30_000 })
      if (how === 'complete') await a.broker.complete(s, j!.id, j!.token!, i)
      else
        await a.broker.fail(s, j!.id, j!.token!, { error: { name: 'E', message: 'x' }, retryDelayMs: null })
      ids.push(j!.id)
    }
    return ids
  }

  test('getJob returns null for a missing id', async () => {
    expect(await a.storage.getJob(ns(), 'nope')).toBeNull()
  })

  test('listJobs pages newest first by a keyset cursor, stable under concurrent inserts', async () => {
    const s = ns()
    const ids = (
      await a.broker.addBulk(
        s,
        Array.from({ length: 25 }, () => newJob('q')),
      )
    ).map((r) => r.job!.id)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await a.storage.listJobs(s, { queue: 'q', limit: 10, cursor })
      seen.push(...page.jobs.map((j) => j.id))
      cursor = page.cursor
      pages++
      await a.broker.add(s, newJob('q')) // a concurrent insert never shifts later pages
    } while (cursor)
    expect(seen).toEqual([...ids].reverse())
    expect(pages).toBe(3)
  })

  test('listJobs filters by queue and/or status, across queues too', async () => {
    const s = ns()
    const done = await finish(s, 'q', 2)
    await a.broker.add(s, newJob('q', { id: 'w1' }))
    await a.broker.add(s, newJob('other', { id: 'o1' }))
    const byStatus = await a.storage.listJobs(s, { queue: 'q', status: 'completed', limit: 10 })
    expect(byStatus.jobs.map((j) => j.id)).toEqual([...done].reverse())
    expect(byStatus.cursor).toBeNull()
    expect((await a.storage.listJobs(s, { status: 'waiting', limit: 10 })).jobs.map((j) => j.id)).toEqual([
      'o1',
      'w1',
    ])
    expect((await a.storage.listJobs(s, { limit: 10 })).jobs.map((j) => j.id)).toEqual([
      'o1',
      'w1',
      ...[...done].reverse(),
    ])
    const p1 = await a.storage.listJobs(s, { limit: 2 })
    const p2 = await a.storage.listJobs(s, { limit: 2, cursor: p1.cursor })
    expect([...p1.jobs, ...p2.jobs].map((j) => j.id)).toEqual(['o1', 'w1', ...[...done].reverse()])
    await expect(a.storage.listJobs(s, { limit: 0 })).rejects.toBeInstanceOf(OqronConfigError)
    await expect(a.storage.listJobs(s, { limit: 5, cursor: 'garbage' })).rejects.toBeInstanceOf(
      OqronConfigError,
    )
  })

  test('listJobs rejects a cursor of 19 digits past the largest bigint as OqronConfigError', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q'))
    for (const query of [{}, { queue: 'q' }]) {
      await expect(
        a.storage.listJobs(s, { ...query, limit: 5, cursor: '9999999999999999999' }),
      ).rejects.toBeInstanceOf(OqronConfigError)
    }
    // The largest bigint itself is a valid cursor: the first page.
    const first = await a.storage.listJobs(s, { limit: 5, cursor: '9223372036854775807' })
    expect(first.jobs).toHaveLength(1)
  })

  test('countJobs counts every status of one queue', async () => {
    const s = ns()
    await finish(s, 'q', 2)
    await finish(s, 'q', 1, 'fail')
    await a.broker.add(s, newJob('q'))
    await a.broker.add(s, newJob('q', { delayMs: 60_000 }))
    await a.broker.add(s, newJob('other'))
    expect(await a.storage.countJobs(s, 'q')).toEqual({
      waiting: 1,
      delayed: 1,
      active: 0,
      completed: 2,
      failed: 1,
      cancelled: 0,
      stalled: 0,
      paused: 0,
    })
  })

  test('removeJob deletes anything but an active job', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'w' }))
    await a.broker.add(s, newJob('q', { id: 'act' }))
    expect(await a.storage.removeJob(s, 'w')).toBe(true)
    expect(await a.storage.getJob(s, 'w')).toBeNull()
    expect(await a.storage.removeJob(s, 'w')).toBe(false)
    const [j] = await a.broker.claim(s, 'q', { workerId: 'w', limit: 1, leaseMs: 30_000 })
    expect(await a.storage.removeJob(s, j!.id)).toBe(false)
    expect((await a.storage.getJob(s, j!.id))!.status).toBe('active')
  })

  test('prune by count keeps the newest, deletes oldest first, in bounded batches', async () => {
    const s = ns()
    const ids = await finish(s, 'q', 7)
    await finish(s, 'q', 2, 'fail')
    expect(await a.storage.prune(s, 'q', { status: 'completed', keep: 3, maxAgeMs: null, limit: 2 })).toBe(2)
    expect(await a.storage.getJob(s, ids[0]!)).toBeNull()
    expect(await a.storage.getJob(s, ids[2]!)).not.toBeNull()
    expect(await a.storage.prune(s, 'q', { status: 'completed', keep: 3, maxAgeMs: null, limit: 100 })).toBe(
      2,
    )
    expect(await a.storage.prune(s, 'q', { status: 'completed', keep: 3, maxAgeMs: null, limit: 100 })).toBe(
      0,
    )
    const left = await a.storage.listJobs(s, { queue: 'q', status: 'completed', limit: 100 })
    expect(left.jobs.map((j) => j.id)).toEqual(ids.slice(4).reverse())
    expect((await a.storage.countJobs(s, 'q')).failed).toBe(2)
    expect(await a.storage.prune(s, 'q', { status: 'failed', keep: 0, maxAgeMs: null, limit: 100 })).toBe(2)
    expect(
      await a.storage.prune(s, 'q', { status: 'completed', keep: null, maxAgeMs: null, limit: 100 }),
    ).toBe(0)
  })

  test('prune by age removes only jobs finished longer ago than maxAgeMs (server clock)', async () => {
    const s = ns()
    const old = await finish(s, 'q', 2)
    await sleep(300)
    const fresh = await finish(s, 'q', 2)
    expect(
      await a.storage.prune(s, 'q', { status: 'completed', keep: null, maxAgeMs: 200, limit: 100 }),
    ).toBe(2)
    for (const id of old) expect(await a.storage.getJob(s, id)).toBeNull()
    for (const id of fresh) expect(await a.storage.getJob(s, id)).not.toBeNull()
    // either limit removes: keep 1 prunes a fresh one even though it is young
    expect(
      await a.storage.prune(s, 'q', { status: 'completed', keep: 1, maxAgeMs: 60_000, limit: 100 }),
    ).toBe(1)
  })

  test('retention bounds past what an integer or an interval holds still prune (count "unlimited", age only)', async () => {
    const s = ns()
    const old = await finish(s, 'q', 2)
    await sleep(300)
    const fresh = await finish(s, 'q', 2)
    // a count no queue reaches and an age no job reaches: nothing to remove, and no error
    expect(
      await a.storage.prune(s, 'q', {
        status: 'completed',
        keep: Number.MAX_SAFE_INTEGER,
        maxAgeMs: Number.MAX_SAFE_INTEGER,
        limit: 100,
      }),
    ).toBe(0)
    // the age still applies beside a count of "unlimited"
    expect(
      await a.storage.prune(s, 'q', {
        status: 'completed',
        keep: Number.MAX_SAFE_INTEGER,
        maxAgeMs: 200,
        limit: 100,
      }),
    ).toBe(2)
    for (const id of old) expect(await a.storage.getJob(s, id)).toBeNull()
    for (const id of fresh) expect(await a.storage.getJob(s, id)).not.toBeNull()
  })

  test('state: get, set, delete, compare-and-set with deep equality', async () => {
    const s = ns()
    expect(await a.storage.getState(s, 'k')).toBeNull()
    await a.storage.setState(s, 'k', { a: 1, b: [1, 2] })
    expect(await a.storage.getState(s, 'k')).toEqual({ a: 1, b: [1, 2] })
    expect(await a.storage.compareAndSetState(s, 'k', { b: [1, 2], a: 1 }, { a: 2 })).toBe(true)
    expect(await a.storage.compareAndSetState(s, 'k', { a: 1 }, { a: 3 })).toBe(false)
    expect(await a.storage.getState(s, 'k')).toEqual({ a: 2 })
    expect(await a.storage.compareAndSetState(s, 'k', { a: 2 }, null)).toBe(true)
    expect(await a.storage.getState(s, 'k')).toBeNull()
    const races = await Promise.all(
      Array.from({ length: 20 }, (_, i) => a.storage.compareAndSetState(s, 'fire', null, { by: i })),
    )
    expect(races.filter(Boolean).length).toBe(1)
    expect(await a.storage.compareAndSetState(s, 'absent', null, null)).toBe(true)
    expect(await a.storage.compareAndSetState(s, 'fire', null, null)).toBe(false)
    await a.storage.setState(s, 'fire', null)
    expect(await a.storage.getState(s, 'fire')).toBeNull()
    await a.storage.setState(s, 'str', 'text')
    expect(await a.storage.getState(s, 'str')).toBe('text')
    expect(await a.storage.getState(ns(), 'str')).toBeNull()
  })

  test('locks: one holder at a time, fenced by token, expiry by the server clock', async () => {
    const s = ns()
    const t1 = await a.lock.acquire(s, 'leader', 'node-1', 200)
    expect(t1).toEqual(expect.any(String))
    expect(await a.lock.acquire(s, 'leader', 'node-2', 200)).toBeNull()
    expect(await a.lock.isOwner(s, 'leader', t1!)).toBe(true)
    expect(await a.lock.isOwner(s, 'leader', 'stale')).toBe(false)
    expect(await a.lock.renew(s, 'leader', 'stale', 200)).toBe(false)
    expect(await a.lock.release(s, 'leader', 'stale')).toBe(false)
    expect(await a.lock.renew(s, 'leader', t1!, 200)).toBe(true)
    await sleep(300)
    expect(await a.lock.isOwner(s, 'leader', t1!)).toBe(false)
    expect(await a.lock.renew(s, 'leader', t1!, 200)).toBe(false)
    const t2 = await a.lock.acquire(s, 'leader', 'node-2', 10_000)
    expect(t2).not.toBeNull()
    expect(t2).not.toBe(t1)
    expect(await a.lock.release(s, 'leader', t1!)).toBe(false)
    expect(await a.lock.release(s, 'leader', t2!)).toBe(true)
    expect(await a.lock.isOwner(s, 'leader', t2!)).toBe(false)
    const racers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => a.lock.acquire(s, 'race', `n${i}`, 10_000)),
    )
    expect(racers.filter((t) => t !== null).length).toBe(1)
  })
})
