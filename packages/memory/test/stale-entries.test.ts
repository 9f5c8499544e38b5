import { describe, expect, it } from 'vitest'
import { memoryAdapter } from '../src/index.js'
import { job, ns } from './helpers.js'

const claim = { workerId: 'w', limit: 1, leaseMs: 60_000 }
const failForGood = { error: { name: 'Error', message: 'x' }, retryDelayMs: null }

type Adapter = ReturnType<typeof memoryAdapter>

async function drain(a: Adapter, queue = 'q'): Promise<string[]> {
  const order: string[] = []
  for (;;) {
    const [next] = await a.broker.claim(ns, queue, claim)
    if (!next) return order
    order.push(next.id)
  }
}

async function runAndFail(a: Adapter, id: string, queue = 'q'): Promise<void> {
  const [claimed] = await a.broker.claim(ns, queue, claim)
  expect(claimed?.id).toBe(id)
  expect(await a.broker.fail(ns, id, claimed!.token!, failForGood)).toBe(true)
}

describe('memory adapter: an entry a job left behind in a list', () => {
  it('does not deliver a removed and re-added id in its old place and priority', async () => {
    const a = memoryAdapter()
    await a.broker.add(ns, job('a', { priority: 5 }))
    expect(await a.storage.removeJob(ns, 'a')).toBe(true)
    await a.broker.add(ns, job('b', { priority: 3 }))
    await a.broker.add(ns, job('a', { priority: 0 }))
    expect(await drain(a)).toEqual(['b', 'a'])
  })

  it('does not deliver a cancelled and retried job in its old place', async () => {
    const a = memoryAdapter()
    await a.broker.add(ns, job('a'))
    await a.broker.add(ns, job('b'))
    await a.broker.cancel(ns, 'a')
    await a.broker.retry(ns, 'a')
    await a.broker.add(ns, job('c'))
    expect(await drain(a)).toEqual(['b', 'a', 'c'])
  })

  it('prune() removes a job failed again after retry() by its latest finish, not its first', async () => {
    const a = memoryAdapter()
    await a.broker.add(ns, job('x'))
    await runAndFail(a, 'x')
    await a.broker.add(ns, job('y'))
    await runAndFail(a, 'y')
    await a.broker.retry(ns, 'x')
    await runAndFail(a, 'x')
    expect(await a.storage.prune(ns, 'q', { status: 'failed', keep: 1, maxAgeMs: null, limit: 10 })).toBe(1)
    expect(await a.storage.getJob(ns, 'y')).toBeNull()
    expect(await a.storage.getJob(ns, 'x')).not.toBeNull()
  })

  it('prune() by age is not stopped by a job that finished again later', async () => {
    let now = 1_000_000
    const a = memoryAdapter({ clock: () => now })
    await a.broker.add(ns, job('x'))
    await runAndFail(a, 'x')
    await a.broker.add(ns, job('y'))
    await runAndFail(a, 'y')
    now += 10_000
    await a.broker.retry(ns, 'x')
    await runAndFail(a, 'x')
    now += 1_000
    // y finished 11 s ago, x 1 s ago.
    expect(await a.storage.prune(ns, 'q', { status: 'failed', keep: null, maxAgeMs: 5_000, limit: 10 })).toBe(
      1,
    )
    expect(await a.storage.getJob(ns, 'y')).toBeNull()
    expect(await a.storage.getJob(ns, 'x')).not.toBeNull()
  })

  it('prune() of one queue never deletes a job of another queue that reuses the id', async () => {
    const a = memoryAdapter()
    await a.broker.add(ns, job('a'))
    await runAndFail(a, 'a')
    expect(await a.storage.removeJob(ns, 'a')).toBe(true)
    await a.broker.add(ns, job('a', { queue: 'other' }))
    await runAndFail(a, 'a', 'other')
    expect(await a.storage.prune(ns, 'q', { status: 'failed', keep: null, maxAgeMs: 0, limit: 10 })).toBe(0)
    expect((await a.storage.getJob(ns, 'a'))?.queue).toBe('other')
    expect((await a.storage.countJobs(ns, 'other')).failed).toBe(1)
    expect((await a.storage.countJobs(ns, 'q')).failed).toBe(0)
  })
})
