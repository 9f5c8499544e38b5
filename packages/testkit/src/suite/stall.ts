import assert from 'node:assert/strict'
import type { StallOutcome } from '@oqronkit/core'
import type { ContractCheck } from '../types.js'
import { sleep } from '../util.js'
import { addJob, claimOne, claimRequest, events, getJob, SHORT_LEASE_MS, waitForStall } from './helpers.js'

export const stallChecks: ContractCheck[] = [
  {
    id: 'stall.requeue',
    title:
      'an expired guaranteed lease is recovered: stalledCount + 1, a stalled entry, lease cleared, claimable again',
    async run(t) {
      await addJob(t)
      const first = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
      const outcome = await waitForStall(t, first.id)
      assert.equal(outcome.action, 'requeued')
      assert.equal(outcome.job.stalledCount, 1)
      const after = await getJob(t, first.id)
      assert.ok(
        after.status === 'waiting' || after.status === 'stalled',
        `a recovered job is waiting (or stalled until claimed), got ${after.status}`,
      )
      assert.equal(after.stalledCount, 1)
      assert.equal(after.token, null, 'the stale lease is cleared')
      assert.ok(events(after).includes('stalled'), 'a `stalled` timeline entry is written')
      const second = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
      assert.equal(second.id, first.id)
      assert.equal(second.attempts, 2)
    },
  },
  {
    id: 'stall.live-leases-untouched',
    title: 'the stall scan leaves live leases, waiting jobs and other queues alone',
    async run(t) {
      await addJob(t)
      await addJob(t)
      const live = await claimOne(t, { leaseMs: 60_000 })
      const otherQueue = `${t.queue}x`
      await addJob(t, { queue: otherQueue })
      const [otherClaimed] = await t.adapters.broker.claim(
        t.ns,
        otherQueue,
        claimRequest({ leaseMs: SHORT_LEASE_MS }),
      )
      assert.ok(otherClaimed)
      await sleep(SHORT_LEASE_MS + 250)
      assert.deepEqual(
        await t.adapters.broker.recoverStalled(t.ns, t.queue, { maxStalledCount: 3, limit: 100 }),
        [],
      )
      assert.equal((await getJob(t, live.id)).status, 'active')
    },
  },
  {
    id: 'stall.max-stalled-count',
    title: 'a job recovered more than maxStalledCount times fails as poison instead of looping',
    async run(t) {
      await addJob(t)
      const a = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
      assert.equal((await waitForStall(t, a.id, 1)).action, 'requeued')
      const b = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
      const outcome = await waitForStall(t, b.id, 1)
      assert.equal(outcome.action, 'failed', 'the second stall with maxStalledCount 1 fails the job')
      const after = await getJob(t, a.id)
      assert.equal(after.status, 'failed')
      assert.equal(after.stalledCount, 2)
      assert.ok(after.error && after.error.message.length > 0, 'the poison failure has an error message')
      assert.notEqual(after.finishedAt, null)
      assert.equal(after.token, null)
      assert.deepEqual(
        await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })),
        [],
        'never claimed again',
      )
    },
  },
  {
    id: 'stall.at-most-once',
    title: 'an at-most-once job whose lease expired fails once as "worker lost" and is never re-run',
    async run(t) {
      await addJob(t, { guaranteed: true })
      const claimed = await claimOne(t, { leaseMs: SHORT_LEASE_MS, guaranteed: false })
      const outcome = await waitForStall(t, claimed.id)
      assert.equal(outcome.action, 'failed')
      const after = await getJob(t, claimed.id)
      assert.equal(after.status, 'failed')
      assert.equal(after.stalledCount, 0, 'an at-most-once job is not counted as recovered')
      assert.ok(after.error, 'the "worker lost" failure stores an error')
      assert.ok(events(after).includes('worker-lost'), 'a `worker-lost` timeline entry is written')
      assert.deepEqual(
        await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })),
        [],
        'never re-run',
      )
      assert.deepEqual(
        await t.adapters.broker.recoverStalled(t.ns, t.queue, { maxStalledCount: 3, limit: 10 }),
        [],
      )
    },
  },
  {
    id: 'stall.scan-once-each',
    title:
      'concurrent stall scans from several nodes act on each expired lease exactly once, in bounded batches',
    async run(t) {
      const total = 20
      for (let i = 0; i < total; i++) await addJob(t)
      const claimed = await t.adapters.broker.claim(
        t.ns,
        t.queue,
        claimRequest({ limit: total, leaseMs: SHORT_LEASE_MS }),
      )
      assert.equal(claimed.length, total)
      await sleep(SHORT_LEASE_MS + 300)
      const peer = await t.peer()
      const outcomes: StallOutcome[] = []
      const scan = async (i: number) => {
        const adapters = i % 2 === 0 ? t.adapters : peer
        for (;;) {
          const got = await adapters.broker.recoverStalled(t.ns, t.queue, { maxStalledCount: 3, limit: 3 })
          assert.ok(got.length <= 3, `recoverStalled returned ${got.length} jobs with limit 3`)
          if (got.length === 0) return
          outcomes.push(...got)
        }
      }
      await Promise.all(Array.from({ length: 6 }, (_, i) => scan(i)))
      const ids = outcomes.map((o) => o.job.id)
      assert.equal(new Set(ids).size, ids.length, 'no expired lease may be recovered twice')
      assert.equal(ids.length, total, 'every expired lease is recovered')
      for (const job of claimed) assert.equal((await getJob(t, job.id)).stalledCount, 1)
    },
  },
]
