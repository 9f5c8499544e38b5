import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import {
  addJob,
  claimOne,
  claimRequest,
  getJob,
  needs,
  reclaimed,
  snapshot,
  withoutTimeline,
} from './helpers.js'

/** The optional `completeAndClaim`: fenced like complete, then a claim with every rule of claim. */
export const completeAndClaimChecks: ContractCheck[] = [
  {
    id: 'complete-and-claim.fenced',
    title:
      'completeAndClaim() with a stale token completes nothing and claims nothing; with the live one it completes and claims the next job',
    skip: needs('completeAndClaim'),
    async run(t) {
      const broker = t.adapters.broker
      assert.ok(broker.completeAndClaim, 'the adapter declares completeAndClaim but has no such member')
      const { stale, live } = await reclaimed(t)
      const next = await addJob(t)
      const before = snapshot(await getJob(t, live.id))
      const rejected = await broker.completeAndClaim(
        t.ns,
        live.id,
        stale.token!,
        { by: 'stale' },
        claimRequest({ limit: 5 }),
      )
      assert.deepEqual(rejected, { completed: false, jobs: [] }, 'a stale completion claims nothing')
      assert.deepEqual(
        snapshot(await getJob(t, live.id)),
        before,
        'a rejected completion leaves the job untouched',
      )
      assert.equal((await getJob(t, next.id)).status, 'waiting', 'the next job is still waiting')
      const workerId = 'successor-worker'
      const outcome = await broker.completeAndClaim(
        t.ns,
        live.id,
        live.token!,
        { by: 'live' },
        claimRequest({ workerId, limit: 5 }),
      )
      assert.equal(outcome.completed, true)
      assert.deepEqual(
        outcome.jobs.map((j) => j.id),
        [next.id],
        'the claim half returns the next due job',
      )
      const claimed = outcome.jobs[0]!
      assert.equal(claimed.status, 'active')
      assert.equal(claimed.workerId, workerId)
      assert.ok(claimed.token && claimed.token !== live.token, 'the next job gets a token of its own')
      const done = await getJob(t, live.id)
      assert.equal(done.status, 'completed')
      assert.deepEqual(done.result, { by: 'live' })
      assert.deepEqual(
        withoutTimeline(claimed),
        withoutTimeline(await getJob(t, next.id)),
        'every field of the claimed record but the timeline is as stored',
      )
    },
  },
  {
    id: 'complete-and-claim.paused',
    title: 'completeAndClaim() on a paused queue completes the job and claims nothing',
    skip: needs('completeAndClaim'),
    async run(t) {
      const broker = t.adapters.broker
      assert.ok(broker.completeAndClaim, 'the adapter declares completeAndClaim but has no such member')
      await addJob(t)
      const running = await claimOne(t)
      const next = await addJob(t)
      await broker.pause(t.ns, t.queue)
      const outcome = await broker.completeAndClaim(
        t.ns,
        running.id,
        running.token!,
        1,
        claimRequest({ limit: 5 }),
      )
      assert.deepEqual(outcome, { completed: true, jobs: [] })
      assert.equal((await getJob(t, next.id)).status, 'waiting')
    },
  },
]
