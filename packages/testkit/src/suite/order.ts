import assert from 'node:assert/strict'
import type { OqronAdapters } from '@oqronkit/core'
import type { CheckContext, ContractCheck } from '../types.js'
import { addJob, claimRequest, needs } from './helpers.js'

async function drainOneByOne(t: CheckContext, adapters: OqronAdapters = t.adapters): Promise<string[]> {
  const order: string[] = []
  for (;;) {
    const [job] = await adapters.broker.claim(t.ns, t.queue, claimRequest())
    if (!job) return order
    order.push(job.id)
  }
}

export const orderChecks: ContractCheck[] = [
  {
    id: 'order.fifo',
    title: 'jobs of one priority are delivered first in, first out, one by one and in a batch',
    async run(t) {
      const ids: string[] = []
      for (let i = 0; i < 8; i++) ids.push((await addJob(t)).id)
      assert.deepEqual(await drainOneByOne(t), ids)
      const batch: string[] = []
      for (let i = 0; i < 8; i++) batch.push((await addJob(t)).id)
      const claimed = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 8 }))
      assert.deepEqual(
        claimed.map((j) => j.id),
        batch,
      )
    },
  },
  {
    id: 'order.priority',
    title: 'higher priority is delivered first, FIFO among equals, negative priorities last',
    skip: needs('priorities'),
    async run(t) {
      const low = await addJob(t, { priority: 0 })
      const highA = await addJob(t, { priority: 10 })
      const mid = await addJob(t, { priority: 5 })
      const highB = await addJob(t, { priority: 10 })
      const negative = await addJob(t, { priority: -5 })
      const low2 = await addJob(t, { priority: 0 })
      assert.deepEqual(await drainOneByOne(t), [highA.id, highB.id, mid.id, low.id, low2.id, negative.id])
    },
  },
  {
    id: 'order.lifo',
    title: 'lifo jobs are taken before older jobs of their priority, newest first',
    skip: needs('lifo'),
    async run(t) {
      const a = await addJob(t)
      const b = await addJob(t)
      const c = await addJob(t, { lifo: true })
      const d = await addJob(t, { lifo: true })
      const order = await drainOneByOne(t)
      assert.equal(order[0], d.id, 'the newest lifo job comes first')
      assert.ok(order.indexOf(c.id) < order.indexOf(a.id), 'a lifo job comes before older fifo jobs')
      assert.ok(order.indexOf(a.id) < order.indexOf(b.id), 'fifo jobs keep their order')
    },
  },
  {
    id: 'order.requeued-place',
    title:
      'a removed and re-added id, or a cancelled and retried job, is delivered by its new priority and place',
    skip: needs('priorities'),
    async run(t) {
      const { broker, storage } = t.adapters
      const reused = t.job({ priority: 5 })
      assert.equal((await broker.add(t.ns, reused)).outcome, 'created')
      assert.equal(await storage.removeJob(t.ns, reused.id), true)
      const mid = await addJob(t, { priority: 3 })
      await addJob(t, { id: reused.id, priority: 0 })
      assert.deepEqual(
        await drainOneByOne(t),
        [mid.id, reused.id],
        'the re-added id (priority 0) comes after the priority-3 job',
      )
      const a = await addJob(t)
      const b = await addJob(t)
      await broker.cancel(t.ns, a.id)
      assert.equal((await broker.retry(t.ns, a.id))?.status, 'waiting')
      const c = await addJob(t)
      assert.deepEqual(
        await drainOneByOne(t),
        [b.id, a.id, c.id],
        'a retried job waits behind the jobs already waiting',
      )
    },
  },
]
