import assert from 'node:assert/strict'
import type { JobRecord } from '@oqronkit/core'
import type { CheckContext, ContractCheck } from '../types.js'
import { sleep } from '../util.js'
import { addJob, claimOne, claimRequest, needsControllableClock } from './helpers.js'

/** Add and complete `n` jobs one after another; returns them in finishing order. */
async function finished(t: CheckContext, n: number, how: 'completed' | 'failed' | 'cancelled' = 'completed') {
  const out: JobRecord[] = []
  for (let i = 0; i < n; i++) {
    const job = await addJob(t)
    if (how === 'cancelled') {
      await t.adapters.broker.cancel(t.ns, job.id)
    } else {
      const claimed = await claimOne(t)
      if (how === 'completed') await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, i)
      else
        await t.adapters.broker.fail(t.ns, claimed.id, claimed.token!, {
          error: { name: 'Error', message: 'x' },
          retryDelayMs: null,
        })
    }
    out.push(job)
  }
  return out
}

async function exists(t: CheckContext, id: string): Promise<boolean> {
  return (await t.adapters.storage.getJob(t.ns, id)) !== null
}

function pruneCompleted(t: CheckContext, keep: number): Promise<number> {
  return t.adapters.storage.prune(t.ns, t.queue, { status: 'completed', keep, maxAgeMs: null, limit: 100 })
}

/** prune() with `keep`: of `jobs` (completed, in finishing order) the first go, the newest `keep` stay. */
async function pruneKeeping(t: CheckContext, jobs: JobRecord[], keep: number): Promise<void> {
  const old = jobs.length - keep
  assert.equal(await pruneCompleted(t, keep), old)
  for (const job of jobs.slice(0, old))
    assert.equal(await exists(t, job.id), false, `${job.id} (older) is removed`)
  for (const job of jobs.slice(old)) assert.equal(await exists(t, job.id), true, `${job.id} (newest) is kept`)
}

export const retentionChecks: ContractCheck[] = [
  {
    id: 'retention.by-count',
    title: 'prune() keeps the newest `keep` finished jobs of a status and removes the oldest first',
    async run(t) {
      const jobs = await finished(t, 6)
      await pruneKeeping(t, jobs, 2)
      assert.equal((await t.adapters.storage.countJobs(t.ns, t.queue)).completed, 2)
      assert.equal(await pruneCompleted(t, 2), 0)
    },
  },
  {
    id: 'retention.same-millisecond',
    title: 'prune() keeps finishing order among jobs finished back to back (many in one millisecond)',
    async run(t) {
      for (let i = 0; i < 12; i++) await addJob(t)
      const claimed = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 12 }))
      assert.equal(claimed.length, 12)
      // Finished in the reverse of the claim order, one awaited call after another: the finishing order is
      // neither the creation order nor the order of the ids.
      const order = [...claimed].reverse()
      for (const job of order) await t.adapters.broker.complete(t.ns, job.id, job.token!, null)
      await pruneKeeping(t, order, 3)
    },
  },
  {
    id: 'retention.limit',
    title: 'prune() removes at most `limit` jobs per call, and keep: 0 removes all of them over calls',
    async run(t) {
      await finished(t, 5)
      const request = { status: 'completed', keep: 0, maxAgeMs: null, limit: 2 } as const
      assert.equal(await t.adapters.storage.prune(t.ns, t.queue, request), 2)
      assert.equal(await t.adapters.storage.prune(t.ns, t.queue, request), 2)
      assert.equal(await t.adapters.storage.prune(t.ns, t.queue, request), 1)
      assert.equal(await t.adapters.storage.prune(t.ns, t.queue, request), 0)
    },
  },
  {
    id: 'retention.by-age',
    title: 'prune() by maxAgeMs removes jobs finished longer ago, keeps younger ones',
    async run(t) {
      const old = await finished(t, 3)
      await sleep(1_600)
      const young = await finished(t, 2)
      const removed = await t.adapters.storage.prune(t.ns, t.queue, {
        status: 'completed',
        keep: null,
        maxAgeMs: 1_200,
        limit: 100,
      })
      assert.equal(removed, 3)
      for (const job of old) assert.equal(await exists(t, job.id), false)
      for (const job of young) assert.equal(await exists(t, job.id), true)
    },
  },
  {
    id: 'retention.by-age-days',
    title: 'prune() by age follows the backend clock: jobs a day old go, an hour old stay',
    skip: needsControllableClock,
    async run(t) {
      const old = await finished(t, 2)
      t.clock!.advance(23 * 3_600_000)
      const young = await finished(t, 2)
      t.clock!.advance(3_600_000 + 1_000)
      const removed = await t.adapters.storage.prune(t.ns, t.queue, {
        status: 'completed',
        keep: null,
        maxAgeMs: 24 * 3_600_000,
        limit: 100,
      })
      assert.equal(removed, 2)
      for (const job of old) assert.equal(await exists(t, job.id), false)
      for (const job of young) assert.equal(await exists(t, job.id), true)
    },
  },
  {
    id: 'retention.scoped',
    title: 'prune() touches only the given status and queue, never waiting or active jobs',
    async run(t) {
      const failed = await finished(t, 2, 'failed')
      const cancelled = await finished(t, 2, 'cancelled')
      const completed = await finished(t, 2, 'completed')
      const waiting = await addJob(t)
      const active = await addJob(t)
      await claimOne(t)
      const otherQueue = await addJob(t, { queue: `${t.queue}o` })
      assert.equal(
        await t.adapters.storage.prune(t.ns, t.queue, {
          status: 'failed',
          keep: 0,
          maxAgeMs: null,
          limit: 100,
        }),
        2,
      )
      for (const job of failed) assert.equal(await exists(t, job.id), false)
      for (const job of [...cancelled, ...completed, waiting, active, otherQueue])
        assert.equal(await exists(t, job.id), true)
      assert.equal(
        await t.adapters.storage.prune(t.ns, t.queue, {
          status: 'cancelled',
          keep: 0,
          maxAgeMs: 0,
          limit: 100,
        }),
        2,
      )
      for (const job of cancelled) assert.equal(await exists(t, job.id), false)
      for (const job of [...completed, waiting, active, otherQueue])
        assert.equal(await exists(t, job.id), true)
    },
  },
  {
    id: 'retention.finished-again',
    title:
      'prune() orders a job failed again after retry() by its latest finish, and never touches a job of another queue reusing an id',
    async run(t) {
      const { broker, storage } = t.adapters
      const failOne = async (queue: string, id: string) => {
        const [claimed] = await broker.claim(t.ns, queue, claimRequest())
        assert.equal(claimed?.id, id)
        assert.equal(
          await broker.fail(t.ns, id, claimed!.token!, {
            error: { name: 'Error', message: 'x' },
            retryDelayMs: null,
          }),
          true,
        )
      }
      const x = await addJob(t)
      await failOne(t.queue, x.id)
      const y = await addJob(t)
      await failOne(t.queue, y.id)
      assert.equal((await broker.retry(t.ns, x.id))?.status, 'waiting')
      await failOne(t.queue, x.id)
      const keepOne = { status: 'failed', keep: 1, maxAgeMs: null, limit: 100 } as const
      assert.equal(await storage.prune(t.ns, t.queue, keepOne), 1)
      assert.equal(await exists(t, y.id), false, 'the job that finished first is removed')
      assert.equal(await exists(t, x.id), true, 'the job failed again later is kept')

      const other = `${t.queue}o`
      assert.equal(await storage.removeJob(t.ns, x.id), true)
      await addJob(t, { id: x.id, queue: other })
      await failOne(other, x.id)
      const all = { status: 'failed', keep: null, maxAgeMs: 0, limit: 100 } as const
      assert.equal(await storage.prune(t.ns, t.queue, all), 0, 'nothing of this queue is left to prune')
      assert.equal(
        (await t.adapters.storage.getJob(t.ns, x.id))?.queue,
        other,
        'the other queue keeps its job',
      )
      assert.equal((await storage.countJobs(t.ns, other)).failed, 1)
      assert.equal((await storage.countJobs(t.ns, t.queue)).failed, 0)
    },
  },
]
