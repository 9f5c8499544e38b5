// Parked claims (migration 000005, docs/postgres.md "Parked claims"): a claim that finds nothing leaves a
// park, and the next add of a job due now to that queue inserts it active under the park's lease and sends
// it to the consumer in its NOTIFY, so the consumer's next claim needs no round trip.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PostgresAdapters, postgresAdapter } from '../src/index.js'
import { adminSql, DATABASE_URL, newJob, openAdapter, runSuite, sleep } from './helpers.js'

const CLAIM = { workerId: 'w-park', limit: 5, leaseMs: 30_000, guaranteed: true }

/** Warm the LISTEN connection: the first wait after a LISTEN returns at once by design, and parks need it. */
async function warm(a: PostgresAdapters): Promise<void> {
  await a.broker.claim('warm', 'q', CLAIM)
  await a.broker.waitForWork('warm', 'q', 10, new AbortController().signal)
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

describe.runIf(runSuite)(
  'parked claims: a job added to an idle queue goes to the consumer waiting on it',
  () => {
    let a: PostgresAdapters
    let b: PostgresAdapters
    let schema: string
    let cleanup: () => Promise<void>
    const admin = adminSql()
    let n = 0
    const ns = () => `park-${++n}`
    const parks = async (space: string) =>
      (await admin.unsafe(`select prefix, worker_id, job_id from "${schema}".parks where ns = $1`, [
        space,
      ] as never)) as unknown as { prefix: string; worker_id: string; job_id: string | null }[]

    beforeAll(async () => {
      ;({ a, schema, cleanup } = await openAdapter())
      b = postgresAdapter({ url: DATABASE_URL }, { schema })
      await b.open()
      await warm(a)
      await warm(b)
    })
    afterAll(async () => {
      await b.close()
      await cleanup()
      await admin.end({ timeout: 1 })
    })

    test('the push: claimed in the add (started when created), handed over by the next claim without a round trip, completed under its token; the next claim retires the park', async () => {
      const s = ns()
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      expect(await parks(s)).toMatchObject([{ worker_id: 'w-park', job_id: null }])

      const waiting = a.broker.waitForWork(s, 'q', 10_000, new AbortController().signal)
      const t0 = performance.now()
      const added = await b.broker.add(s, newJob('q', { data: { hello: 'park' } }))
      // The add reports the job as added; in the database it is already the parked consumer's.
      expect(added).toMatchObject({ outcome: 'created', job: { status: 'waiting' } })
      await waiting
      expect(performance.now() - t0).toBeLessThan(1_000)
      const stored = await b.storage.getJob(s, added.job!.id)
      expect(stored).toMatchObject({ status: 'active', workerId: 'w-park', attempts: 1, guaranteed: true })
      expect(stored!.startedAt).toBe(stored!.createdAt)
      expect(await parks(s)).toMatchObject([{ job_id: added.job!.id }])

      const [job, ...more] = await a.broker.claim(s, 'q', CLAIM)
      expect(more).toEqual([])
      expect(job).toMatchObject({
        id: added.job!.id,
        queue: 'q',
        status: 'active',
        data: { hello: 'park' },
        attempts: 1,
        workerId: 'w-park',
        token: stored!.token,
        startedAt: stored!.startedAt,
        lockExpiresAt: stored!.lockExpiresAt,
      })
      expect(await a.broker.complete(s, job!.id, job!.token!, 'done')).toBe(true)
      expect(await b.storage.getJob(s, job!.id)).toMatchObject({ status: 'completed', result: 'done' })

      // The next claim through the database deletes the filled park (and, finding nothing, parks anew).
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      const now = await parks(s)
      expect(now).toHaveLength(1)
      expect(now[0]!.job_id).toBeNull()
    })

    test('a park takes one job: the next adds wait to be claimed, in order', async () => {
      const s = ns()
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await b.broker.add(s, newJob('q'))).job!.id)
      await a.broker.waitForWork(s, 'q', 10_000, new AbortController().signal)
      const statuses = await Promise.all(ids.map(async (id) => (await b.storage.getJob(s, id))!.status))
      expect(statuses).toEqual(['active', 'waiting', 'waiting'])
      const pushed = await a.broker.claim(s, 'q', CLAIM)
      expect(pushed.map((j) => j.id)).toEqual([ids[0]])
      expect((await a.broker.claim(s, 'q', CLAIM)).map((j) => j.id)).toEqual(ids.slice(1))
    })

    test('a push too large for a NOTIFY payload wakes the consumer, whose next claim gives the job back and claims it under a token of its own', async () => {
      const s = ns()
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      const big = 'x'.repeat(8_000)
      const waiting = a.broker.waitForWork(s, 'q', 10_000, new AbortController().signal)
      const t0 = performance.now()
      const added = await b.broker.add(s, newJob('q', { data: { big } }))
      await waiting
      expect(performance.now() - t0).toBeLessThan(1_000)
      const pushed = await b.storage.getJob(s, added.job!.id)
      expect(pushed).toMatchObject({ status: 'active', attempts: 1 })

      const [job] = await a.broker.claim(s, 'q', CLAIM)
      expect(job).toMatchObject({ id: added.job!.id, status: 'active', attempts: 1, data: { big } })
      expect(job!.token).not.toBe(pushed!.token)
      // The pushed token is fenced off; the claim's is live.
      expect(await a.broker.complete(s, job!.id, pushed!.token!, 'stale')).toBe(false)
      expect(await a.broker.complete(s, job!.id, job!.token!, 'live')).toBe(true)
      const done = await b.storage.getJob(s, job!.id)
      expect(done).toMatchObject({ status: 'completed', result: 'live', attempts: 1 })
      expect(done!.timeline.map((e) => e.event)).toEqual([
        'added',
        'active',
        'released',
        'active',
        'completed',
      ])
      expect(done!.timeline[2]).toMatchObject({ event: 'released', detail: 'not picked up' })
    })

    test('a pushed job another consumer of the same adapter claims first is given back and claimed under its lease', async () => {
      const s = ns()
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      const waiting = a.broker.waitForWork(s, 'q', 10_000, new AbortController().signal)
      const added = await b.broker.add(s, newJob('q'))
      await waiting
      const [job] = await a.broker.claim(s, 'q', { ...CLAIM, workerId: 'w-other' })
      expect(job).toMatchObject({ id: added.job!.id, workerId: 'w-other', attempts: 1 })
      expect(await b.storage.getJob(s, job!.id)).toMatchObject({ workerId: 'w-other', token: job!.token })
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
    })

    test('a park whose LISTEN connection is gone takes no job: the add leaves it waiting for any consumer', async () => {
      const c = postgresAdapter({ url: DATABASE_URL }, { schema, relistenDelayMs: 60_000 })
      await c.open()
      try {
        await warm(c)
        const s = ns()
        expect(await c.broker.claim(s, 'q', CLAIM)).toEqual([])
        expect(await parks(s)).toHaveLength(1)
        const pid = await c.listenerPid()
        await admin`select pg_terminate_backend(${pid})`
        await waitUntil(
          async () => (await admin`select 1 from pg_stat_activity where pid = ${pid}`).length === 0,
          5_000,
          'the LISTEN backend to exit',
        )
        const added = await b.broker.add(s, newJob('q'))
        expect(await b.storage.getJob(s, added.job!.id)).toMatchObject({ status: 'waiting', attempts: 0 })
        expect(await parks(s)).toMatchObject([{ job_id: null }])
        expect((await b.broker.claim(s, 'q', CLAIM)).map((j) => j.id)).toEqual([added.job!.id])
      } finally {
        await c.close()
      }
    })

    test('a consumer that stops waiting retires its park: later adds wait for anyone', async () => {
      const s = ns()
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      expect(await parks(s)).toHaveLength(1)
      const stop = new AbortController()
      const waiting = a.broker.waitForWork(s, 'q', 10_000, stop.signal)
      await sleep(50)
      stop.abort()
      await waiting
      await waitUntil(async () => (await parks(s)).length === 0, 5_000, 'the park to go')
      const added = await b.broker.add(s, newJob('q'))
      expect(await b.storage.getJob(s, added.job!.id)).toMatchObject({ status: 'waiting' })
    })

    test('closing the adapter gives back a pushed job the engine never took', async () => {
      const c = postgresAdapter({ url: DATABASE_URL }, { schema })
      await c.open()
      await warm(c)
      const s = ns()
      expect(await c.broker.claim(s, 'q', CLAIM)).toEqual([])
      const waiting = c.broker.waitForWork(s, 'q', 10_000, new AbortController().signal)
      const added = await b.broker.add(s, newJob('q'))
      await waiting
      expect(await b.storage.getJob(s, added.job!.id)).toMatchObject({ status: 'active' })
      await c.close()
      const back = await b.storage.getJob(s, added.job!.id)
      expect(back).toMatchObject({ status: 'waiting', attempts: 0, token: null, workerId: null })
      expect(back!.timeline.map((e) => e.event)).toEqual(['added', 'active', 'released'])
      expect(await parks(s)).toEqual([])
      expect((await b.broker.claim(s, 'q', CLAIM)).map((j) => j.id)).toEqual([added.job!.id])
    })

    test('no push to a paused queue, to a delayed job, or inside a caller transaction', async () => {
      const s = ns()
      await a.broker.pause(s, 'q')
      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      expect(await parks(s)).toEqual([])
      const held = await b.broker.add(s, newJob('q'))
      expect(await b.storage.getJob(s, held.job!.id)).toMatchObject({ status: 'waiting' })
      await a.broker.resume(s, 'q')
      expect((await a.broker.claim(s, 'q', CLAIM)).map((j) => j.id)).toEqual([held.job!.id])

      expect(await a.broker.claim(s, 'q', CLAIM)).toEqual([])
      expect(await parks(s)).toHaveLength(1)
      const later = await b.broker.add(s, newJob('q', { delayMs: 60_000 }))
      expect(await b.storage.getJob(s, later.job!.id)).toMatchObject({ status: 'delayed' })
      const inTx = await admin.begin((tx) => b.broker.add(s, newJob('q'), { tx }))
      expect(await b.storage.getJob(s, inTx.job!.id)).toMatchObject({ status: 'waiting' })
      expect(await parks(s)).toMatchObject([{ job_id: null }])
    })
  },
)
