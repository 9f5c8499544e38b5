import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { waitUntil } from '../util.js'
import { addJob, claimRequest, getJob, needsControllableClock } from './helpers.js'

export const delayedChecks: ContractCheck[] = [
  {
    id: 'delayed.not-early',
    title: 'a delayed job is stored delayed with runAt = createdAt + delay and is not claimed before runAt',
    async run(t) {
      const job = await addJob(t, { delayMs: 800 })
      assert.equal(job.status, 'delayed')
      assert.equal(job.runAt - job.createdAt, 800)
      assert.deepEqual(
        await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })),
        [],
        'not claimable at once',
      )
      const claimed = await waitUntil(
        async () => (await t.adapters.broker.claim(t.ns, t.queue, claimRequest()))[0],
        { timeoutMs: 15_000, what: 'the delayed job to become claimable' },
      )
      assert.equal(claimed.id, job.id)
      assert.ok(
        claimed.startedAt! >= job.runAt,
        `claimed at ${claimed.startedAt}, before its runAt ${job.runAt}`,
      )
    },
  },
  {
    id: 'delayed.not-lost',
    title: 'many delayed jobs with mixed delays are all delivered, each exactly once',
    async run(t) {
      const delays = [
        0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600, 10, 20, 30, 40, 60, 70, 80,
      ]
      const ids = new Set<string>()
      for (const delayMs of delays) ids.add((await addJob(t, { delayMs })).id)
      const seen: string[] = []
      await waitUntil(
        async () => {
          const got = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 7 }))
          seen.push(...got.map((j) => j.id))
          return seen.length >= ids.size
        },
        { timeoutMs: 20_000, what: 'every delayed job to be delivered' },
      )
      assert.equal(new Set(seen).size, seen.length, 'no delayed job is delivered twice')
      assert.deepEqual(new Set(seen), ids)
    },
  },
  {
    id: 'delayed.far-future',
    title: 'a job delayed by an hour becomes due exactly when the backend clock reaches runAt',
    skip: needsControllableClock,
    async run(t) {
      const job = await addJob(t, { delayMs: 3_600_000 })
      t.clock!.advance(3_500_000)
      assert.deepEqual(await t.adapters.broker.claim(t.ns, t.queue, claimRequest()), [])
      t.clock!.advance(100_000)
      const [claimed] = await t.adapters.broker.claim(t.ns, t.queue, claimRequest())
      assert.equal(claimed?.id, job.id)
    },
  },
  {
    id: 'delayed.retry-backoff',
    title: 'fail() with retryDelayMs > 0 makes the job delayed and it is not claimed before the backoff ends',
    async run(t) {
      await addJob(t)
      const [claimed] = await t.adapters.broker.claim(t.ns, t.queue, claimRequest())
      assert.ok(claimed)
      const ok = await t.adapters.broker.fail(t.ns, claimed.id, claimed.token!, {
        error: { name: 'Error', message: 'try later' },
        retryDelayMs: 700,
      })
      assert.equal(ok, true)
      const after = await getJob(t, claimed.id)
      assert.equal(after.status, 'delayed')
      assert.ok(after.runAt >= claimed.startedAt! + 700, 'runAt is the backoff from the backend now')
      assert.deepEqual(await t.adapters.broker.claim(t.ns, t.queue, claimRequest()), [])
      const again = await waitUntil(
        async () => (await t.adapters.broker.claim(t.ns, t.queue, claimRequest()))[0],
        {
          timeoutMs: 15_000,
          what: 'the retried job to become due',
        },
      )
      assert.equal(again.attempts, 2)
      assert.ok(again.startedAt! >= after.runAt)
    },
  },
]
