import assert from 'node:assert/strict'
import { JOB_STATUSES, type JobRecord } from '@oqronkit/core'
import type { ContractCheck } from '../types.js'
import { randomId } from '../util.js'
import { addJob, claimOne } from './helpers.js'

export const storageChecks: ContractCheck[] = [
  {
    id: 'storage.list-bad-limit',
    title: 'listJobs() refuses a limit that is not an integer from 1 to 1000 with OqronConfigError',
    async run(t) {
      await addJob(t)
      for (const limit of [Number.NaN, 0, -1, 1.5, 1001, Number.POSITIVE_INFINITY]) {
        await assert.rejects(
          () => t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit }),
          (error: Error) => error.name === 'OqronConfigError',
          `listJobs with limit ${limit}: OqronConfigError`,
        )
      }
      assert.equal((await t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit: 1000 })).jobs.length, 1)
    },
  },
  {
    id: 'storage.get-missing',
    title: 'getJob() of an unknown id returns null',
    async run(t) {
      assert.equal(await t.adapters.storage.getJob(t.ns, randomId('missing')), null)
    },
  },
  {
    id: 'storage.list',
    title:
      'listJobs() pages newest first through every job, filtered by queue and status, with a null last cursor',
    async run(t) {
      const ids: string[] = []
      for (let i = 0; i < 7; i++) ids.push((await addJob(t)).id)
      await addJob(t, { queue: `${t.queue}o` })
      const seen: JobRecord[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page = await t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit: 3, cursor })
        assert.ok(page.jobs.length <= 3)
        seen.push(...page.jobs)
        cursor = page.cursor
        assert.ok(++pages <= 10, 'paging must end')
      } while (cursor !== null)
      assert.deepEqual(
        seen.map((j) => j.id),
        [...ids].reverse(),
        'newest first, each job once',
      )
      const claimed = await claimOne(t)
      const active = await t.adapters.storage.listJobs(t.ns, { status: 'active', limit: 10 })
      assert.deepEqual(
        active.jobs.map((j) => j.id),
        [claimed.id],
      )
      assert.equal(active.cursor, null)
      const all = await t.adapters.storage.listJobs(t.ns, { limit: 100 })
      assert.equal(all.jobs.length, 8, 'without filters every queue of the namespace is listed')
    },
  },
  {
    id: 'storage.list-stable',
    title: 'listJobs() paging is stable under concurrent inserts: no job is skipped or repeated',
    async run(t) {
      const ids: string[] = []
      for (let i = 0; i < 10; i++) ids.push((await addJob(t)).id)
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const page = await t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit: 3, cursor })
        seen.push(...page.jobs.map((j) => j.id))
        cursor = page.cursor
        await addJob(t)
      } while (cursor !== null)
      assert.equal(new Set(seen).size, seen.length, 'no job is listed twice')
      for (const id of ids) assert.ok(seen.includes(id), `job ${id}, present before paging began, is listed`)
    },
  },
  {
    id: 'storage.list-stable-removals',
    title:
      'listJobs() paging is stable while other jobs are removed: each job present throughout is listed once, newest first',
    async run(t) {
      const ids: string[] = []
      for (let i = 0; i < 100; i++) ids.push((await addJob(t)).id)
      let page = await t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit: 10 })
      const seen = page.jobs.map((j) => j.id)
      // Most of the jobs not listed yet go (as retention would remove them) before the next page is read.
      for (const id of ids.slice(0, 60)) assert.equal(await t.adapters.storage.removeJob(t.ns, id), true)
      let pages = 1
      while (page.cursor !== null) {
        page = await t.adapters.storage.listJobs(t.ns, { queue: t.queue, limit: 10, cursor: page.cursor })
        seen.push(...page.jobs.map((j) => j.id))
        assert.ok(++pages <= 20, 'paging must end')
      }
      assert.deepEqual(seen, ids.slice(60).reverse(), 'every remaining job once, newest first')
    },
  },
  {
    id: 'storage.count',
    title: 'countJobs() returns every status with its count; an unknown queue counts zeros',
    async run(t) {
      await addJob(t)
      await addJob(t)
      await addJob(t, { delayMs: 60_000 })
      const claimed = await claimOne(t)
      await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, null)
      const counts = await t.adapters.storage.countJobs(t.ns, t.queue)
      assert.deepEqual(Object.keys(counts).sort(), [...JOB_STATUSES].sort(), 'every status is a key')
      assert.equal(counts.waiting, 1)
      assert.equal(counts.delayed, 1)
      assert.equal(counts.completed, 1)
      assert.equal(counts.active, 0)
      const empty = await t.adapters.storage.countJobs(t.ns, randomId('none'))
      for (const status of JOB_STATUSES) assert.equal(empty[status], 0)
    },
  },
  {
    id: 'storage.remove',
    title: 'removeJob() deletes a job that is not active; never an active one; false when missing',
    async run(t) {
      const waiting = await addJob(t)
      assert.equal(await t.adapters.storage.removeJob(t.ns, waiting.id), true)
      assert.equal(await t.adapters.storage.getJob(t.ns, waiting.id), null)
      assert.deepEqual(
        await t.adapters.broker.claim(t.ns, t.queue, { workerId: 'w', limit: 5, leaseMs: 60_000 }),
        [],
        'a removed job is not delivered',
      )
      assert.equal((await t.adapters.storage.countJobs(t.ns, t.queue)).waiting, 0)
      await addJob(t)
      const active = await claimOne(t)
      assert.equal(
        await t.adapters.storage.removeJob(t.ns, active.id),
        false,
        'an active job is never removed',
      )
      assert.equal((await t.adapters.storage.getJob(t.ns, active.id))?.status, 'active')
      assert.equal(await t.adapters.storage.removeJob(t.ns, randomId('missing')), false)
      assert.equal(await t.adapters.storage.removeJob(t.ns, waiting.id), false, 'removing twice says false')
    },
  },
  {
    id: 'storage.state',
    title: 'getState()/setState() keep a JSON value per key; null deletes it',
    async run(t) {
      const { storage } = t.adapters
      assert.equal(await storage.getState(t.ns, 'k'), null)
      const value = { last: '2024-01-01T00:00:00.000Z', list: [1, { a: null }], flag: false }
      await storage.setState(t.ns, 'k', value)
      assert.deepEqual(await storage.getState(t.ns, 'k'), value)
      await storage.setState(t.ns, 'k', 7)
      assert.equal(await storage.getState(t.ns, 'k'), 7, 'last write wins')
      await storage.setState(t.ns, 'k', null)
      assert.equal(await storage.getState(t.ns, 'k'), null, 'null deletes')
    },
  },
  {
    id: 'storage.compare-and-set',
    title: 'compareAndSetState() writes only when the current value deep-equals `expected` (null = absent)',
    async run(t) {
      const { storage } = t.adapters
      assert.equal(
        await storage.compareAndSetState(t.ns, 'c', { v: 1 }, { v: 2 }),
        false,
        'absent is not { v: 1 }',
      )
      assert.equal(
        await storage.compareAndSetState(t.ns, 'c', null, { a: 1, b: [1, 2] }),
        true,
        'null means absent',
      )
      assert.equal(await storage.compareAndSetState(t.ns, 'c', null, { v: 9 }), false, 'no longer absent')
      assert.equal(
        await storage.compareAndSetState(t.ns, 'c', { b: [1, 2], a: 1 }, { a: 2 }),
        true,
        'deep equality ignores the order of object keys',
      )
      assert.deepEqual(await storage.getState(t.ns, 'c'), { a: 2 })
      assert.equal(await storage.compareAndSetState(t.ns, 'c', { a: 3 }, { a: 4 }), false)
      assert.deepEqual(await storage.getState(t.ns, 'c'), { a: 2 }, 'a failed compare changes nothing')
      assert.equal(await storage.compareAndSetState(t.ns, 'c', { a: 2 }, null), true, 'next null deletes')
      assert.equal(await storage.getState(t.ns, 'c'), null)
    },
  },
  {
    id: 'storage.compare-and-set-race',
    title: 'of 20 concurrent compareAndSetState() calls from one expected value, exactly one wins',
    async run(t) {
      const peer = await t.peer()
      await t.adapters.storage.setState(t.ns, 'race', { round: 0 })
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? t.adapters : peer).storage.compareAndSetState(
            t.ns,
            'race',
            { round: 0 },
            { round: 1, by: i },
          ),
        ),
      )
      assert.equal(results.filter(Boolean).length, 1)
      const winner = results.indexOf(true)
      assert.deepEqual(await t.adapters.storage.getState(t.ns, 'race'), { round: 1, by: winner })
    },
  },
]
