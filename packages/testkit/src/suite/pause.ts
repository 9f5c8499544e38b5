import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { addJob, claimRequest, events, getJob } from './helpers.js'

export const pauseChecks: ContractCheck[] = [
  {
    id: 'pause.pause-resume',
    title: 'a paused queue delivers nothing but accepts adds; resume() delivers again; other queues go on',
    async run(t) {
      const { broker } = t.adapters
      const other = `${t.queue}o`
      assert.equal(await broker.isPaused(t.ns, t.queue), false)
      await addJob(t)
      await broker.pause(t.ns, t.queue)
      assert.equal(await broker.isPaused(t.ns, t.queue), true)
      const added = await broker.add(t.ns, t.job())
      assert.equal(added.outcome, 'created', 'adds are still accepted while paused')
      assert.deepEqual(await broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })), [])
      await addJob(t, { queue: other })
      assert.equal(
        (await broker.claim(t.ns, other, claimRequest())).length,
        1,
        'pausing one queue leaves others running',
      )
      await broker.resume(t.ns, t.queue)
      assert.equal(await broker.isPaused(t.ns, t.queue), false)
      assert.equal((await broker.claim(t.ns, t.queue, claimRequest({ limit: 5 }))).length, 2)
    },
  },
  {
    id: 'pause.disabled-hold',
    title:
      "while disabled, 'hold' stores the job paused and claims return []; enabling moves it back and delivers it",
    async run(t) {
      const { broker } = t.adapters
      assert.equal(await broker.isDisabled(t.ns, t.queue), false)
      const before = await addJob(t)
      await broker.setDisabled(t.ns, t.queue, true)
      assert.equal(await broker.isDisabled(t.ns, t.queue), true)
      const held = await broker.add(t.ns, t.job({ disabledBehavior: 'hold' }))
      assert.equal(held.outcome, 'held')
      assert.equal(held.job?.status, 'paused')
      assert.ok(events(held.job!).includes('held'), 'a `held` timeline entry is written')
      assert.equal((await t.adapters.storage.countJobs(t.ns, t.queue)).paused, 1)
      assert.deepEqual(
        await broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })),
        [],
        'a disabled queue delivers nothing',
      )
      await broker.setDisabled(t.ns, t.queue, false)
      assert.equal(await broker.isDisabled(t.ns, t.queue), false)
      const after = await getJob(t, held.job!.id)
      assert.equal(after.status, 'waiting', 'enabling moves held jobs back to waiting')
      const claimed = await broker.claim(t.ns, t.queue, claimRequest({ limit: 5 }))
      assert.deepEqual(claimed.map((j) => j.id).sort(), [before.id, held.job!.id].sort())
    },
  },
  {
    id: 'pause.disabled-skip-reject',
    title: "while disabled, 'skip' and 'reject' store nothing and say so",
    async run(t) {
      const { broker } = t.adapters
      await broker.setDisabled(t.ns, t.queue, true)
      const skipJob = t.job({ disabledBehavior: 'skip' })
      const skipped = await broker.add(t.ns, skipJob)
      assert.equal(skipped.outcome, 'skipped')
      assert.equal(skipped.job, null)
      const rejectJob = t.job({ disabledBehavior: 'reject' })
      const rejected = await broker.add(t.ns, rejectJob)
      assert.equal(rejected.outcome, 'rejected')
      assert.equal(rejected.job, null)
      assert.equal(await t.adapters.storage.getJob(t.ns, skipJob.id), null)
      assert.equal(await t.adapters.storage.getJob(t.ns, rejectJob.id), null)
      await broker.setDisabled(t.ns, t.queue, false)
      assert.deepEqual(
        await broker.claim(t.ns, t.queue, claimRequest({ limit: 5 })),
        [],
        'nothing to deliver after enabling',
      )
      const later = await broker.add(t.ns, t.job({ id: skipJob.id, disabledBehavior: 'skip' }))
      assert.equal(later.outcome, 'created', 'a skipped id can be added once enabled')
    },
  },
  {
    id: 'pause.disabled-hold-bulk',
    title: "addBulk while disabled: each 'hold' job is stored paused with its own `added`, `held` timeline",
    async run(t) {
      const { broker } = t.adapters
      await broker.setDisabled(t.ns, t.queue, true)
      const held = await broker.addBulk(t.ns, [
        t.job({ disabledBehavior: 'hold' }),
        t.job({ disabledBehavior: 'hold' }),
      ])
      for (const r of held) {
        assert.equal(r.outcome, 'held')
        assert.equal(r.job?.status, 'paused')
        assert.deepEqual(events(await getJob(t, r.job!.id)), ['added', 'held'])
      }
      assert.equal((await t.adapters.storage.countJobs(t.ns, t.queue)).paused, 2)
    },
  },
  {
    id: 'pause.disabled-delayed-hold',
    title: 'a held delayed job keeps its delay when the queue is enabled',
    async run(t) {
      const { broker } = t.adapters
      await broker.setDisabled(t.ns, t.queue, true)
      const held = await broker.add(t.ns, t.job({ delayMs: 60_000 }))
      assert.equal(held.outcome, 'held')
      await broker.setDisabled(t.ns, t.queue, false)
      const after = await getJob(t, held.job!.id)
      assert.equal(after.status, 'delayed', 'enabling moves a held job with a future runAt to delayed')
      assert.deepEqual(await broker.claim(t.ns, t.queue, claimRequest()), [])
    },
  },
]
