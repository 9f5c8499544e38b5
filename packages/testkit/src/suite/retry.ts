import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { randomId } from '../util.js'
import { addJob, claimOne, claimRequest, events, getJob } from './helpers.js'

const boom = { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at handler' }

export const retryChecks: ContractCheck[] = [
  {
    id: 'retry.fail-with-retry',
    title: 'fail() with retryDelayMs 0 stores the error, clears the lease, requeues with a retrying entry',
    async run(t) {
      await addJob(t)
      const first = await claimOne(t)
      assert.equal(
        await t.adapters.broker.fail(t.ns, first.id, first.token!, { error: boom, retryDelayMs: 0 }),
        true,
      )
      const after = await getJob(t, first.id)
      assert.equal(after.status, 'waiting')
      assert.deepEqual(after.error, boom, 'the error is stored as given')
      assert.equal(after.token, null)
      assert.equal(after.finishedAt, null)
      assert.ok(events(after).includes('retrying'), 'a `retrying` timeline entry is written')
      const second = await claimOne(t)
      assert.equal(second.attempts, 2)
    },
  },
  {
    id: 'retry.fail-final',
    title:
      'fail() with retryDelayMs null fails the job for good with finishedAt; it is never delivered again',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t)
      assert.equal(
        await t.adapters.broker.fail(t.ns, claimed.id, claimed.token!, { error: boom, retryDelayMs: null }),
        true,
      )
      const after = await getJob(t, claimed.id)
      assert.equal(after.status, 'failed')
      assert.deepEqual(after.error, boom)
      assert.notEqual(after.finishedAt, null)
      assert.equal(after.token, null)
      assert.ok(events(after).includes('failed'))
      assert.deepEqual(await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })), [])
    },
  },
  {
    id: 'retry.complete',
    title: 'complete() stores the result, clears the lease and sets finishedAt',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t)
      assert.equal(
        await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, { charged: true, n: [1, 2] }),
        true,
      )
      const after = await getJob(t, claimed.id)
      assert.equal(after.status, 'completed')
      assert.deepEqual(after.result, { charged: true, n: [1, 2] })
      assert.equal(after.token, null)
      assert.equal(after.lockExpiresAt, null)
      assert.notEqual(after.finishedAt, null)
      assert.ok(events(after).includes('completed'))
      assert.equal(
        await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, 'twice'),
        false,
        'settles once',
      )
    },
  },
  {
    id: 'retry.release',
    title:
      'release() gives the job back at once: waiting, lease cleared, the attempt not counted, a released entry',
    async run(t) {
      await addJob(t)
      const first = await claimOne(t, { workerId: 'leaving' })
      assert.equal(await t.adapters.broker.release(t.ns, first.id, first.token!), true)
      const after = await getJob(t, first.id)
      assert.equal(after.status, 'waiting')
      assert.equal(after.token, null)
      assert.equal(after.attempts, 0, 'the interrupted attempt is not counted')
      assert.ok(events(after).includes('released'))
      const peer = await t.peer()
      const second = await claimOne(t, { workerId: 'taking-over' }, peer)
      assert.equal(second.id, first.id, 'another worker claims it immediately')
      assert.equal(second.attempts, 1)
    },
  },
  {
    id: 'retry.retry-job',
    title:
      'retry() moves a failed or cancelled job back to waiting with attempts reset; null for an unknown id',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t)
      await t.adapters.broker.fail(t.ns, claimed.id, claimed.token!, { error: boom, retryDelayMs: null })
      const retried = await t.adapters.broker.retry(t.ns, claimed.id)
      assert.equal(retried?.status, 'waiting')
      assert.equal(retried?.attempts, 0)
      assert.equal(retried?.finishedAt, null)
      const again = await claimOne(t)
      assert.equal(again.id, claimed.id)
      assert.equal(again.attempts, 1)
      const cancelled = await addJob(t)
      await t.adapters.broker.cancel(t.ns, cancelled.id)
      assert.equal((await t.adapters.broker.retry(t.ns, cancelled.id))?.status, 'waiting')
      assert.equal((await claimOne(t)).id, cancelled.id)
      assert.equal(await t.adapters.broker.retry(t.ns, randomId('missing')), null)
    },
  },
]
