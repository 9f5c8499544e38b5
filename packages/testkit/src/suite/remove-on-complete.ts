import assert from 'node:assert/strict'
import type { JobRecord } from '@oqronkit/core'
import type { CheckContext, ContractCheck } from '../types.js'
import { addJob, claimOne, claimRequest, getJob, needs, reclaimed, snapshot } from './helpers.js'

const REMOVE = { remove: true }

/**
 * After a completion with `{ remove: true }`: with the capability the job is gone (no record, not counted,
 * not listed, its id free for a new job); without it the adapter may have kept it `completed` instead.
 */
async function assertRemoved(t: CheckContext, job: JobRecord): Promise<void> {
  const stored = await t.adapters.storage.getJob(t.ns, job.id)
  if (!t.capabilities.removeOnComplete) {
    if (stored)
      assert.equal(stored.status, 'completed', 'a kept record of a removing completion is completed')
    return
  }
  assert.equal(stored, null, 'a completion with { remove: true } deletes the job')
  const counts = await t.adapters.storage.countJobs(t.ns, t.queue)
  assert.equal(counts.completed, 0, 'a removed job is not counted')
  assert.equal(counts.active, 0, 'a removed job is not counted as active either')
  const page = await t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit: 100 })
  assert.ok(!page.jobs.some((j) => j.id === job.id), 'a removed job is not listed')
  const again = await t.adapters.broker.add(t.ns, t.job({ id: job.id }))
  assert.equal(again.outcome, 'created', 'the id of a removed job can be used again')
}

/** `complete`/`completeAndClaim` with `{ remove: true }` (CompleteOptions): fenced, and the job is gone. */
export const removeOnCompleteChecks: ContractCheck[] = [
  {
    id: 'remove-on-complete.fenced',
    title:
      'complete() with { remove: true } and a stale token deletes nothing; with the live token the job completes and is deleted',
    async run(t) {
      const { broker } = t.adapters
      const { stale, live } = await reclaimed(t)
      const before = snapshot(await getJob(t, live.id))
      assert.equal(await broker.complete(t.ns, live.id, stale.token!, 'zombie', REMOVE), false)
      assert.deepEqual(
        snapshot(await getJob(t, live.id)),
        before,
        'a rejected removing completion changes nothing',
      )
      assert.equal(await broker.complete(t.ns, live.id, live.token!, 'done', REMOVE), true)
      await assertRemoved(t, live)
      assert.equal(
        await broker.complete(t.ns, live.id, live.token!, 'again', REMOVE),
        false,
        'a second completion with the same token is rejected',
      )
    },
  },
  {
    id: 'remove-on-complete.mixed-burst',
    title:
      'completions with and without { remove: true } issued together each get their own outcome: removed ones go, kept ones stay completed',
    async run(t) {
      const { broker } = t.adapters
      for (let i = 0; i < 4; i++) await addJob(t)
      const jobs = await broker.claim(t.ns, t.queue, claimRequest({ limit: 4 }))
      assert.equal(jobs.length, 4)
      const done = await Promise.all(
        jobs.map((j, i) => broker.complete(t.ns, j.id, j.token!, i, i % 2 === 0 ? REMOVE : undefined)),
      )
      assert.deepEqual(done, [true, true, true, true])
      for (const [i, j] of jobs.entries()) {
        if (i % 2 === 0) {
          const stored = await t.adapters.storage.getJob(t.ns, j.id)
          if (t.capabilities.removeOnComplete) assert.equal(stored, null, `job ${i} was removed`)
          else if (stored) assert.equal(stored.status, 'completed')
        } else {
          const kept = await getJob(t, j.id)
          assert.equal(kept.status, 'completed', `job ${i} completed without remove is kept`)
          assert.equal(kept.result, i)
        }
      }
    },
  },
  {
    id: 'remove-on-complete.and-claim',
    title: 'completeAndClaim() with { remove: true } deletes the completed job and still claims the next one',
    skip: needs('completeAndClaim'),
    async run(t) {
      const { broker } = t.adapters
      assert.ok(broker.completeAndClaim, 'the adapter declares completeAndClaim but has no such member')
      await addJob(t)
      const running = await claimOne(t)
      const next = await addJob(t)
      const outcome = await broker.completeAndClaim(
        t.ns,
        running.id,
        running.token!,
        null,
        claimRequest({ limit: 1 }),
        REMOVE,
      )
      assert.equal(outcome.completed, true)
      assert.deepEqual(
        outcome.jobs.map((j) => j.id),
        [next.id],
      )
      assert.equal((await getJob(t, next.id)).status, 'active')
      const stored = await t.adapters.storage.getJob(t.ns, running.id)
      if (t.capabilities.removeOnComplete) assert.equal(stored, null, 'the completed job was removed')
      else if (stored) assert.equal(stored.status, 'completed')
    },
  },
]
