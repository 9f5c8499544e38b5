import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { randomId } from '../util.js'
import { addJob, claimRequest, events, getJob } from './helpers.js'

export const addChecks: ContractCheck[] = [
  {
    id: 'add.record',
    title: 'add() stores the job as given: waiting, counters at zero, backend timestamps, an added entry',
    async run(t) {
      const data = { nested: { list: [1, 'two', null, true], n: 1.5 }, text: 'ünïcødé ✓' }
      const job = t.job({ data, priority: 3, maxAttempts: 4, guaranteed: false })
      const result = await t.adapters.broker.add(t.ns, job)
      assert.equal(result.outcome, 'created')
      const stored = await getJob(t, job.id)
      assert.deepEqual(result.job, stored, 'add() returns the record as stored')
      assert.equal(stored.id, job.id)
      assert.equal(stored.queue, t.queue)
      assert.equal(stored.status, 'waiting')
      assert.deepEqual(stored.data, data, 'data round-trips as JSON')
      assert.equal(stored.result, null)
      assert.equal(stored.error, null)
      assert.equal(stored.attempts, 0)
      assert.equal(stored.maxAttempts, 4)
      assert.equal(stored.stalledCount, 0)
      assert.equal(stored.progress, 0)
      assert.equal(stored.priority, 3)
      assert.equal(stored.lifo, false)
      assert.equal(stored.guaranteed, false)
      assert.equal(stored.token, null)
      assert.equal(stored.workerId, null)
      assert.equal(stored.lockExpiresAt, null)
      assert.equal(stored.startedAt, null)
      assert.equal(stored.finishedAt, null)
      assert.equal(stored.runAt, stored.createdAt, 'runAt equals createdAt when not delayed')
      assert.ok(events(stored).includes('added'), 'an `added` timeline entry is written')
    },
  },
  {
    id: 'add.idempotent',
    title:
      '100 concurrent add() calls with one job id make exactly one job; the others get it back as duplicate',
    async run(t) {
      const id = randomId('dup')
      const peer = await t.peer()
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          (i % 2 === 0 ? t.adapters : peer).broker.add(t.ns, t.job({ id, data: { i } })),
        ),
      )
      const created = results.filter((r) => r.outcome === 'created')
      assert.equal(created.length, 1, `exactly one add creates the job, got ${created.length}`)
      assert.equal(results.filter((r) => r.outcome === 'duplicate').length, 99)
      const winner = created[0]!.job!.data
      for (const r of results)
        assert.deepEqual(r.job?.data, winner, 'a duplicate returns the existing record, unchanged')
      const counts = await t.adapters.storage.countJobs(t.ns, t.queue)
      assert.equal(counts.waiting, 1)
      const claimed = await t.adapters.broker.claim(t.ns, t.queue, claimRequest({ limit: 10 }))
      assert.equal(claimed.length, 1, 'one job to run')
    },
  },
  {
    id: 'add.duplicate-changes-nothing',
    title: 'add() of an existing id returns duplicate and never resets a running or finished job',
    async run(t) {
      const job = await addJob(t)
      const [claimed] = await t.adapters.broker.claim(t.ns, t.queue, claimRequest())
      assert.ok(claimed)
      const again = await t.adapters.broker.add(t.ns, t.job({ id: job.id, data: { other: true } }))
      assert.equal(again.outcome, 'duplicate')
      assert.equal(again.job?.status, 'active')
      assert.equal(await t.adapters.broker.complete(t.ns, job.id, claimed.token!, 1), true)
      const third = await t.adapters.broker.add(t.ns, t.job({ id: job.id }))
      assert.equal(third.outcome, 'duplicate')
      assert.equal(third.job?.status, 'completed')
      assert.deepEqual((await getJob(t, job.id)).data, job.data)
    },
  },
  {
    id: 'add.bulk',
    title: 'addBulk() adds each job on its own and answers in input order, duplicates included',
    async run(t) {
      const existing = await addJob(t)
      const a = t.job()
      const b = t.job()
      const results = await t.adapters.broker.addBulk(t.ns, [
        a,
        t.job({ id: existing.id }),
        b,
        t.job({ id: a.id }),
      ])
      assert.deepEqual(
        results.map((r) => r.outcome),
        ['created', 'duplicate', 'created', 'duplicate'],
      )
      assert.deepEqual(
        results.map((r) => r.job?.id),
        [a.id, existing.id, b.id, a.id],
      )
      assert.deepEqual(await t.adapters.broker.addBulk(t.ns, []), [])
    },
  },
  {
    id: 'add.records-as-stored',
    title:
      'every record add() and addBulk() return is what getJob then reads: delayed, LIFO, prioritised, held, data as JSON stores it',
    async run(t) {
      const { broker } = t.adapters
      const when = new Date(Date.UTC(2026, 0, 2, 3, 4, 5))
      const jobs = [
        t.job({ data: { at: when, gone: undefined, list: [1, undefined, 'x'] }, priority: 4 }),
        t.job({ data: null, delayMs: 60_000, maxAttempts: 3 }),
        t.job({ data: 'text', lifo: true, guaranteed: false }),
      ]
      const bulk = await broker.addBulk(t.ns, jobs)
      const single = await broker.add(t.ns, t.job({ data: { at: when }, delayMs: 1_500, priority: -2 }))
      await broker.setDisabled(t.ns, t.queue, true)
      const held = await broker.add(t.ns, t.job({ data: { held: true }, disabledBehavior: 'hold' }))
      const heldBulk = await broker.addBulk(t.ns, [
        t.job({ disabledBehavior: 'hold' }),
        t.job({ lifo: true }),
      ])
      assert.equal(held.outcome, 'held')
      for (const r of [...bulk, single, held, ...heldBulk]) {
        assert.ok(r.job, `${r.outcome} returns a record`)
        assert.deepEqual(r.job, await getJob(t, r.job.id), `the ${r.job.status} record as stored`)
      }
      assert.deepEqual(bulk[0]!.job!.data, { at: when.toISOString(), list: [1, null, 'x'] })
      assert.equal(bulk[1]!.job!.status, 'delayed')
      assert.ok(bulk[1]!.job!.runAt >= bulk[1]!.job!.createdAt + 60_000)
      await broker.setDisabled(t.ns, t.queue, false)
    },
  },
]
