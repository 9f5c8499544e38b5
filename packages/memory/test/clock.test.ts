import { describe, expect, it } from 'vitest'
import { memoryAdapter } from '../src/index.js'
import { job, ns } from './helpers.js'

describe('memory adapter with an injected clock', () => {
  it('judges leases, delays and locks by its own clock, not Date.now()', async () => {
    let now = 1_000_000
    const { broker, lock, storage } = memoryAdapter({ clock: () => now })
    await broker.add(ns, job('a'))
    await broker.add(ns, job('later', { delayMs: 5_000 }))
    const [claimed] = await broker.claim(ns, 'q', { workerId: 'w1', limit: 5, leaseMs: 1_000 })
    expect(claimed!.id).toBe('a')
    expect(claimed!.lockExpiresAt).toBe(now + 1_000)
    expect(claimed!.createdAt).toBe(1_000_000)

    // Real time passes, the injected clock does not: nothing expires.
    await new Promise((r) => setTimeout(r, 30))
    expect(await broker.recoverStalled(ns, 'q', { maxStalledCount: 1, limit: 10 })).toEqual([])
    now += 999
    expect(await broker.renew(ns, 'a', claimed!.token!, 1_000)).toBe('ok')
    now += 1_000
    expect(await broker.recoverStalled(ns, 'q', { maxStalledCount: 1, limit: 10 })).toHaveLength(1)
    expect(await broker.complete(ns, 'a', claimed!.token!, 'late')).toBe(false)
    expect((await storage.getJob(ns, 'a'))!.status).toBe('stalled')

    expect(await broker.claim(ns, 'q', { workerId: 'w2', limit: 5, leaseMs: 1_000 })).toHaveLength(1) // 'a' again
    now += 3_001
    const due = await broker.claim(ns, 'q', { workerId: 'w2', limit: 5, leaseMs: 1_000 })
    expect(due.map((j) => j.id)).toEqual(['later'])

    const token = await lock.acquire(ns, 'leader', 'n1', 500)
    expect(token).not.toBeNull()
    expect(await lock.acquire(ns, 'leader', 'n2', 500)).toBeNull()
    now += 500
    const next = await lock.acquire(ns, 'leader', 'n2', 500)
    expect(next).not.toBeNull()
    expect(await lock.renew(ns, 'leader', token!, 500)).toBe(false)
    expect(await lock.isOwner(ns, 'leader', next!)).toBe(true)
  })

  it('returns copies: mutating what a caller got back changes nothing stored', async () => {
    const { broker, storage } = memoryAdapter()
    const added = await broker.add(ns, job('c'))
    ;(added.job!.data as { id: string }).id = 'mutated'
    added.job!.timeline.push({ at: 0, event: 'log' })
    const stored = await storage.getJob(ns, 'c')
    expect(stored!.data).toEqual({ id: 'c' })
    expect(stored!.timeline).toHaveLength(1)
  })
})
