// The claim lane (migration 000004, docs/postgres.md "The claim lane"): claims that move a queue's position
// past its next jobs instead of writing them. What the lane must never do is lose a job behind the position
// or hand one out twice.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PostgresAdapters, postgresAdapter } from '../src/index.js'
import { DATABASE_URL, newJob, openAdapter, runSuite, sleep } from './helpers.js'

describe.runIf(runSuite)('claim lane', () => {
  let a: PostgresAdapters
  let schema: string
  let cleanup: () => Promise<void>
  let n = 0
  const ns = () => `lane-${++n}`
  const claim = (ns: string, limit = 10, leaseMs = 30_000) =>
    a.broker.claim(ns, 'q', { workerId: 'w1', limit, leaseMs })

  beforeAll(async () => {
    ;({ a, schema, cleanup } = await openAdapter())
  })
  afterAll(async () => {
    await cleanup()
  })

  test('a claim waits for an add still committing, then hands out its job and the later one, in order', async () => {
    const s = ns()
    const raw = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
    try {
      const reserved = await raw.reserve()
      // An add that drew its ord and has not committed yet: the lane's lock shared, as ADD holds it.
      await reserved.unsafe('begin')
      await reserved.unsafe(
        'select pg_advisory_xact_lock_shared(1903520622, hashtext($1::text || chr(31) || $2::text))',
        [s, 'q'],
      )
      await reserved.unsafe(
        `insert into "${schema}".jobs (ns, id, queue, status, seq, ord, data)
         select $1::text, 'first', 'q', 'waiting', x.v, x.v, '{}'
         from (select nextval('"${schema}".job_seq') as v) x`,
        [s],
      )
      // A later add commits first (its ord is higher); without the lock a claim now would move the
      // position past both and never see the first.
      await a.broker.add(s, newJob('q', { id: 'second' }))
      let done = false
      const claiming = claim(s).then((got) => {
        done = true
        return got
      })
      await sleep(300)
      expect(done).toBe(false)
      await reserved.unsafe('commit')
      reserved.release()
      const got = await claiming
      expect(got.map((j) => j.id)).toEqual(['first', 'second'])
      expect(await claim(s)).toEqual([])
    } finally {
      await raw.end({ timeout: 1 })
    }
  })

  test('a job added in a transaction that commits after later jobs were claimed is still claimed', async () => {
    const s = ns()
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    let added!: () => void
    const inTx = new Promise<void>((r) => {
      added = r
    })
    const tx = a.sql.begin(async (t) => {
      await a.broker.add(s, newJob('q', { id: 'in-tx' }), { tx: t })
      added()
      await held
    })
    await inTx
    await a.broker.add(s, newJob('q', { id: 'after' }))
    expect((await claim(s)).map((j) => j.id)).toEqual(['after'])
    release()
    await tx
    const [late] = await claim(s)
    expect(late).toMatchObject({ id: 'in-tx', status: 'active', attempts: 1 })
    expect(await claim(s)).toEqual([])
  })

  test('a handed-out lane job reads active; its expired lease is recovered and its late completion refused', async () => {
    const s = ns()
    await a.broker.addBulk(s, [newJob('q', { id: 'x1' }), newJob('q', { id: 'x2' })])
    const got = await claim(s, 10, 300)
    expect(got.map((j) => j.id)).toEqual(['x1', 'x2'])
    const stored = await a.storage.getJob(s, 'x1')
    expect(stored).toMatchObject({ status: 'active', workerId: 'w1', attempts: 1, token: got[0]!.token })
    expect((await a.storage.countJobs(s, 'q')).active).toBe(2)
    await sleep(400)
    const recovered = await a.broker.recoverStalled(s, 'q', { maxStalledCount: 5, limit: 10 })
    expect(recovered.map((r) => [r.job.id, r.action]).sort()).toEqual([
      ['x1', 'requeued'],
      ['x2', 'requeued'],
    ])
    expect(await a.broker.complete(s, 'x2', got[1]!.token!, 'late')).toBe(false)
    const again = await claim(s)
    expect(again.map((j) => [j.id, j.attempts]).sort()).toEqual([
      ['x1', 2],
      ['x2', 2],
    ])
    const x2 = again.find((j) => j.id === 'x2')!
    expect(await a.broker.complete(s, 'x2', x2.token!, 'ok')).toBe(true)
    expect(await a.storage.getJob(s, 'x2')).toMatchObject({ status: 'completed', result: 'ok', attempts: 2 })
  })

  test('cancel of a handed-out lane job: the completion is refused, the heartbeat says cancelled', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'c1' }))
    const [job] = await claim(s)
    const outcome = await a.broker.cancel(s, 'c1')
    expect(outcome).toMatchObject({ cancelled: true, job: { status: 'cancelled', attempts: 1 } })
    expect(await a.broker.renew(s, 'c1', job!.token!, 30_000)).toBe('cancelled')
    expect(await a.broker.complete(s, 'c1', job!.token!, null)).toBe(false)
    expect(await a.storage.removeJob(s, 'c1')).toBe(true)
  })

  test('a handed-out lane job renews again and again, progresses and completes under its token', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'h1' }))
    const [job] = await claim(s, 10, 2_000)
    const first = await a.broker.renew(s, 'h1', job!.token!, 60_000)
    const second = await a.broker.renew(s, 'h1', job!.token!, 120_000)
    expect([first, second]).toEqual(['ok', 'ok'])
    const stored = await a.storage.getJob(s, 'h1')
    expect(stored!.lockExpiresAt! - stored!.startedAt!).toBeGreaterThan(100_000)
    expect(await a.broker.progress(s, 'h1', job!.token!, 50, 'half')).toBe(true)
    expect(await a.broker.complete(s, 'h1', job!.token!, 'done')).toBe(true)
    expect(await a.broker.renew(s, 'h1', job!.token!, 60_000)).toBe('lost')
    expect(await a.storage.getJob(s, 'h1')).toMatchObject({
      status: 'completed',
      result: 'done',
      progress: 50,
    })
  })

  test('a burst completes lane jobs by range, and by id the one another reader wrote as a row claim meanwhile', async () => {
    const s = ns()
    for (const id of ['b1', 'b2', 'b3', 'b4']) await a.broker.add(s, newJob('q', { id }))
    const got = await claim(s)
    // Another adapter's getJob writes b2 as the row claim its lane token stands for: no longer in the lane.
    const other = postgresAdapter({ url: DATABASE_URL }, { schema })
    try {
      await other.open()
      expect(await other.storage.getJob(s, 'b2')).toMatchObject({ status: 'active', token: got[1]!.token })
    } finally {
      await other.close()
    }
    const done = await Promise.all(
      got.map((j, i) => a.broker.complete(s, j.id, j.token!, i, i < 2 ? { remove: true } : undefined)),
    )
    expect(done).toEqual([true, true, true, true])
    expect(await a.storage.getJob(s, 'b1')).toBeNull()
    expect(await a.storage.getJob(s, 'b2')).toBeNull()
    expect(await a.storage.getJob(s, 'b3')).toMatchObject({ status: 'completed', result: 2, attempts: 1 })
    expect(await a.storage.getJob(s, 'b4')).toMatchObject({ status: 'completed', result: 3, attempts: 1 })
    // Each completed once: a second round of the same tokens finds nothing.
    expect(await Promise.all(got.map((j) => a.broker.complete(s, j.id, j.token!, null)))).toEqual([
      false,
      false,
      false,
      false,
    ])
  })

  test('removeJob leaves a handed-out lane job alone; its completion then lands', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q', { id: 'r1' }))
    const [job] = await claim(s)
    expect(await a.storage.removeJob(s, 'r1')).toBe(false)
    expect(await a.broker.complete(s, 'r1', job!.token!, 7)).toBe(true)
    expect(await a.storage.getJob(s, 'r1')).toMatchObject({ status: 'completed', result: 7, attempts: 1 })
  })
})
