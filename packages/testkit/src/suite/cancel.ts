import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { randomId, sleep, waitUntil } from '../util.js'
import { addJob, claimOne, claimRequest, events, getJob, LONG_LEASE_MS, needs } from './helpers.js'

export const cancelChecks: ContractCheck[] = [
  {
    id: 'cancel.waiting',
    title: 'cancel() of a waiting job writes a tombstone (record kept, finishedAt, entry) and it never runs',
    async run(t) {
      const job = await addJob(t, { data: { keep: 'me' } })
      const outcome = await t.adapters.broker.cancel(t.ns, job.id)
      assert.ok(outcome)
      assert.equal(outcome.cancelled, true)
      assert.equal(outcome.job.status, 'cancelled')
      const after = await getJob(t, job.id)
      assert.equal(after.status, 'cancelled')
      assert.deepEqual(after.data, { keep: 'me' }, 'the tombstone keeps the record')
      assert.notEqual(after.finishedAt, null)
      assert.ok(events(after).includes('cancelled'), 'a `cancelled` timeline entry is written')
      assert.deepEqual(
        await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })),
        [],
        'never delivered',
      )
      const again = await t.adapters.broker.cancel(t.ns, job.id)
      assert.equal(again?.cancelled, false, 'a second cancel() reports it was already cancelled')
      assert.equal((await t.adapters.storage.countJobs(t.ns, t.queue)).cancelled, 1)
    },
  },
  {
    id: 'cancel.delayed-and-held',
    title: 'cancel() of a delayed or held job: it never becomes due, not even after enabling the queue',
    async run(t) {
      const delayed = await addJob(t, { delayMs: 300 })
      await t.adapters.broker.setDisabled(t.ns, t.queue, true)
      const held = await t.adapters.broker.add(t.ns, t.job())
      assert.equal(held.outcome, 'held')
      assert.equal((await t.adapters.broker.cancel(t.ns, delayed.id))?.cancelled, true)
      assert.equal((await t.adapters.broker.cancel(t.ns, held.job!.id))?.cancelled, true)
      await t.adapters.broker.setDisabled(t.ns, t.queue, false)
      await sleep(500)
      assert.deepEqual(await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })), [])
      assert.equal((await getJob(t, held.job!.id)).status, 'cancelled')
    },
  },
  {
    id: 'cancel.active',
    title:
      "cancel() of an active job clears the lease: the worker's renew says cancelled, its settle changes nothing",
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t, { leaseMs: LONG_LEASE_MS })
      const outcome = await t.adapters.broker.cancel(t.ns, claimed.id)
      assert.equal(outcome?.cancelled, true)
      const after = await getJob(t, claimed.id)
      assert.equal(after.status, 'cancelled')
      assert.equal(after.token, null, 'the lease is cleared')
      assert.equal(after.lockExpiresAt, null)
      assert.equal(
        await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, LONG_LEASE_MS),
        'cancelled',
      )
      assert.equal(await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, 'late'), false)
      assert.equal(
        await t.adapters.broker.fail(t.ns, claimed.id, claimed.token!, {
          error: { name: 'Error', message: 'x' },
          retryDelayMs: 0,
        }),
        false,
      )
      assert.equal(await t.adapters.broker.release(t.ns, claimed.id, claimed.token!), false)
      assert.equal(
        (await getJob(t, claimed.id)).status,
        'cancelled',
        'a zombie never overwrites the tombstone',
      )
      assert.deepEqual(
        await t.adapters.broker.recoverStalled(t.ns, t.queue, { maxStalledCount: 3, limit: 10 }),
        [],
      )
    },
  },
  {
    id: 'cancel.finished-and-missing',
    title: 'cancel() of a finished job changes nothing (cancelled: false); of an unknown id returns null',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t)
      assert.equal(await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, { done: 1 }), true)
      const outcome = await t.adapters.broker.cancel(t.ns, claimed.id)
      assert.equal(outcome?.cancelled, false)
      assert.equal(outcome?.job.status, 'completed')
      assert.deepEqual((await getJob(t, claimed.id)).result, { done: 1 })
      assert.equal(await t.adapters.broker.cancel(t.ns, randomId('missing')), null)
    },
  },
  {
    id: 'cancel.on-cancel',
    title: 'onCancel() listeners hear every cancellation of their namespace, and nothing after unsubscribing',
    async run(t) {
      const heard: string[] = []
      const otherNs = t.otherNs()
      const otherHeard: string[] = []
      const unsubscribe = await t.adapters.broker.onCancel(t.ns, (id) => heard.push(id))
      const unsubscribeOther = await t.adapters.broker.onCancel(otherNs, (id) => otherHeard.push(id))
      t.defer(unsubscribeOther)
      const job = await addJob(t)
      await t.adapters.broker.cancel(t.ns, job.id)
      await waitUntil(() => heard.includes(job.id), { what: 'onCancel to hear the cancellation' })
      await unsubscribe()
      const later = await addJob(t)
      await t.adapters.broker.cancel(t.ns, later.id)
      await sleep(300)
      assert.deepEqual(heard, [job.id], 'an unsubscribed listener hears nothing more')
      assert.deepEqual(otherHeard, [], 'another namespace hears nothing')
    },
  },
  {
    id: 'cancel.on-cancel-across-nodes',
    title: 'onCancel() on another adapter set (another node) hears a cancellation made here',
    skip: needs('pubsubCancel'),
    async run(t) {
      const peer = await t.peer()
      const heard: string[] = []
      const unsubscribe = await peer.broker.onCancel(t.ns, (id) => heard.push(id))
      t.defer(unsubscribe)
      await addJob(t)
      const claimed = await claimOne(t, {}, peer)
      await t.adapters.broker.cancel(t.ns, claimed.id)
      await waitUntil(() => heard.includes(claimed.id), { what: "the other node's onCancel listener" })
      assert.equal(await peer.broker.renew(t.ns, claimed.id, claimed.token!, LONG_LEASE_MS), 'cancelled')
    },
  },
]
