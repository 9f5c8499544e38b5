import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { randomId } from '../util.js'
import { claimRequest } from './helpers.js'

export const namespaceChecks: ContractCheck[] = [
  {
    id: 'namespace.jobs',
    title:
      'two namespaces never see each other’s jobs: same id and queue in both, separate claims, lists and counts',
    async run(t) {
      const { broker, storage } = t.adapters
      const other = t.otherNs()
      const id = randomId('same')
      assert.equal((await broker.add(t.ns, t.job({ id, data: 'a' }))).outcome, 'created')
      assert.equal(
        (await broker.add(other, t.job({ id, data: 'b' }))).outcome,
        'created',
        'the same id is new in another ns',
      )
      assert.equal((await storage.getJob(t.ns, id))?.data, 'a')
      assert.equal((await storage.getJob(other, id))?.data, 'b')
      const claimed = await broker.claim(other, t.queue, claimRequest({ limit: 5 }))
      assert.deepEqual(
        claimed.map((j) => j.data),
        ['b'],
      )
      assert.equal(
        (await storage.getJob(t.ns, id))?.status,
        'waiting',
        'a claim in one ns leaves the other alone',
      )
      assert.equal((await storage.countJobs(t.ns, t.queue)).waiting, 1)
      assert.equal((await storage.countJobs(other, t.queue)).active, 1)
      assert.equal((await storage.listJobs(t.ns, { limit: 10 })).jobs.length, 1)
      await broker.cancel(t.ns, id)
      assert.equal(
        (await storage.getJob(other, id))?.status,
        'active',
        'cancel in one ns leaves the other alone',
      )
      assert.equal(await storage.removeJob(t.ns, id), true)
      assert.ok(await storage.getJob(other, id), 'remove in one ns leaves the other alone')
    },
  },
  {
    id: 'namespace.queue-flags',
    title: 'pause and disable of a queue in one namespace leave the same queue in another running',
    async run(t) {
      const { broker } = t.adapters
      const other = t.otherNs()
      await broker.pause(t.ns, t.queue)
      await broker.setDisabled(t.ns, t.queue, true)
      assert.equal(await broker.isPaused(other, t.queue), false)
      assert.equal(await broker.isDisabled(other, t.queue), false)
      assert.equal((await broker.add(other, t.job())).outcome, 'created')
      assert.equal((await broker.claim(other, t.queue, claimRequest())).length, 1)
    },
  },
  {
    id: 'namespace.locks-and-state',
    title: 'locks and shared state are per namespace',
    async run(t) {
      const { lock, storage } = t.adapters
      const other = t.otherNs()
      assert.ok(await lock.acquire(t.ns, 'leader', 'a', 60_000))
      assert.ok(await lock.acquire(other, 'leader', 'b', 60_000), 'the same key is free in another ns')
      await storage.setState(t.ns, 'k', 1)
      assert.equal(await storage.getState(other, 'k'), null)
      assert.equal(await storage.compareAndSetState(other, 'k', null, 2), true)
      assert.equal(await storage.getState(t.ns, 'k'), 1)
    },
  },
  {
    id: 'namespace.stall-and-prune',
    title: 'stall scans and retention of one namespace never touch another',
    async run(t) {
      const { broker, storage } = t.adapters
      const other = t.otherNs()
      await broker.add(other, t.job())
      const [claimed] = await broker.claim(other, t.queue, claimRequest({ leaseMs: 1 }))
      assert.ok(claimed)
      await broker.add(other, t.job())
      const [done] = await broker.claim(other, t.queue, claimRequest())
      assert.ok(done)
      await broker.complete(other, done.id, done.token!, null)
      await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(await broker.recoverStalled(t.ns, t.queue, { maxStalledCount: 3, limit: 100 }), [])
      assert.equal(
        await storage.prune(t.ns, t.queue, { status: 'completed', keep: 0, maxAgeMs: null, limit: 100 }),
        0,
      )
      assert.ok(await storage.getJob(other, done.id))
      assert.equal((await storage.getJob(other, claimed.id))?.status, 'active')
    },
  },
]
