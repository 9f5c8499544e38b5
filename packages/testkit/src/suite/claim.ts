import assert from 'node:assert/strict'
import type { JobRecord } from '@oqronkit/core'
import type { ContractCheck } from '../types.js'
import { randomId } from '../util.js'
import { addJob, claimOne, claimRequest, events, getJob, LONG_LEASE_MS, withoutTimeline } from './helpers.js'

export const claimChecks: ContractCheck[] = [
  {
    id: 'claim.fields',
    title:
      'claim() makes the job active with a new token, the worker, a lease from the backend now, attempts + 1',
    async run(t) {
      const added = await addJob(t)
      const workerId = randomId('w')
      const claimed = await claimOne(t, { workerId, leaseMs: 5_000 })
      assert.equal(claimed.id, added.id)
      assert.equal(claimed.status, 'active')
      assert.equal(typeof claimed.token, 'string')
      assert.ok(claimed.token!.length > 0, 'token is a non-empty string')
      assert.equal(claimed.workerId, workerId)
      assert.equal(claimed.attempts, 1)
      assert.ok(
        claimed.startedAt !== null && claimed.startedAt >= added.createdAt,
        'startedAt is set, not before createdAt',
      )
      assert.ok(claimed.lockExpiresAt !== null, 'lockExpiresAt is set')
      const lease = claimed.lockExpiresAt! - claimed.startedAt!
      assert.ok(
        Math.abs(lease - 5_000) <= 50,
        `lockExpiresAt - startedAt should be leaseMs (5000), got ${lease}`,
      )
      // The claim reply may leave the timeline out (the engine never reads it); the stored record has it.
      const stored = await getJob(t, added.id)
      assert.ok(events(stored).includes('active'), 'an `active` timeline entry is written')
      assert.equal(stored.status, 'active')
      assert.equal(stored.token, claimed.token)
      assert.equal(stored.lockExpiresAt, claimed.lockExpiresAt)
      assert.equal(stored.attempts, 1)
    },
  },
  {
    id: 'claim.record-as-stored',
    title:
      'every field of a claimed record but the timeline is what getJob then reads, for a first and a retried attempt and a plain job',
    async run(t) {
      const boom = { name: 'Error', message: 'first try', stack: 'Error: first try' }
      const retried = await addJob(t, { data: { kind: 'retried' }, priority: 2, maxAttempts: 5 })
      const first = await claimOne(t)
      await t.adapters.broker.progress(t.ns, first.id, first.token!, 40, 'halfway')
      assert.ok(await t.adapters.broker.fail(t.ns, first.id, first.token!, { error: boom, retryDelayMs: 0 }))
      await addJob(t, {
        data: { kind: 'fresh', list: [1, 2] },
        priority: 1,
        maxAttempts: 2,
        guaranteed: false,
      })
      await addJob(t, { data: { kind: 'plain' } }) // every field as a first claim has it
      const workerId = randomId('w')
      const claimed = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ workerId, limit: 5 }))
      assert.equal(claimed.length, 3)
      assert.equal(claimed[0]!.id, retried.id, 'the higher priority first')
      for (const job of claimed)
        assert.deepEqual(withoutTimeline(job), withoutTimeline(await getJob(t, job.id)))
      assert.deepEqual(claimed[0]!.error, boom, 'the retried attempt carries the earlier error')
      assert.equal(claimed[0]!.attempts, 2)
    },
  },
  {
    id: 'claim.empty',
    title: 'claim() of an empty or unknown queue returns [] and limit 0 claims nothing',
    async run(t) {
      assert.deepEqual(await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })), [])
      await addJob(t)
      assert.deepEqual(await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 0 })), [])
      assert.deepEqual(await t.adapters.broker.claim(t.ns, randomId('other'), claimRequest({ limit: 5 })), [])
    },
  },
  {
    id: 'claim.limit-and-queue',
    title: 'claim() takes at most `limit` jobs, only of the named queue',
    async run(t) {
      for (let i = 0; i < 5; i++) await addJob(t)
      const other = randomId('q')
      await addJob(t, { queue: other })
      const first = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 3 }))
      assert.equal(first.length, 3)
      const rest = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 10 }))
      assert.equal(rest.length, 2)
      for (const job of [...first, ...rest]) assert.equal(job.queue, t.queue)
      assert.equal((await t.adapters.broker.claim(t.ns, other, claimRequest({ limit: 10 }))).length, 1)
    },
  },
  {
    id: 'claim.guaranteed-flag',
    title:
      'claim() stores request.guaranteed on the job; without it the job keeps the flag it was added with',
    async run(t) {
      const a = await addJob(t, { guaranteed: true })
      const claimedA = await claimOne(t, { guaranteed: false })
      assert.equal(claimedA.id, a.id)
      assert.equal(claimedA.guaranteed, false)
      assert.equal((await getJob(t, a.id)).guaranteed, false)
      const b = await addJob(t, { guaranteed: false })
      const claimedB = await claimOne(t, {})
      assert.equal(claimedB.id, b.id)
      assert.equal(claimedB.guaranteed, false)
    },
  },
  {
    id: 'claim.exclusive',
    title: 'concurrent claims from many workers (and another node) hand each job to exactly one of them',
    timeoutMs: 120_000,
    async run(t) {
      const total = 60
      const jobs = Array.from({ length: total }, () => t.job())
      const results = await t.adapters.broker.addBulk(t.ns, jobs)
      assert.equal(results.filter((r) => r.outcome === 'created').length, total)
      const peer = await t.peer()
      const claimed: JobRecord[] = []
      const claimer = async (index: number) => {
        const adapters = index % 2 === 0 ? t.adapters : peer
        const workerId = `w${index}`
        for (;;) {
          const got = await adapters.broker.claim(
            t.ns,
            t.queue,
            claimRequest({ workerId, limit: 3, leaseMs: LONG_LEASE_MS }),
          )
          if (got.length === 0) return
          claimed.push(...got)
        }
      }
      await Promise.all(Array.from({ length: 12 }, (_, i) => claimer(i)))
      const ids = claimed.map((j) => j.id)
      const dupes = ids.filter((id, i) => ids.indexOf(id) !== i)
      assert.deepEqual(dupes, [], 'no job may be claimed twice')
      assert.equal(new Set(ids).size, total, 'every job is claimed')
      const tokens = new Set(claimed.map((j) => j.token))
      assert.equal(tokens.size, total, 'every claim gets its own token')
      const counts = await t.adapters.storage.countJobs(t.ns, t.queue)
      assert.equal(counts.active, total)
      assert.equal(counts.waiting, 0)
    },
  },
]
