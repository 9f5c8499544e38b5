// Delete-on-complete: `complete`/`completeAndClaim` with `{ remove: true }` delete the job in the completion
// statement instead of storing it `completed` (what `removeOnComplete: true` asks for), fenced like any
// completion, and batched apart from keeping completions.
import type { JobRecord } from '@oqronkit/core'
import { OqronRuntime, queue } from 'oqronkit'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { type PostgresAdapters, postgresAdapter, type Sql } from '../src/index.js'
import {
  adminSql,
  DATABASE_URL,
  dropSchema,
  newJob,
  randomSchema,
  runSuite,
  sharedAdapter,
  sleep,
} from './helpers.js'

const REMOVE = { remove: true } as const
const next = (limit: number) => ({ workerId: 'w2', limit, leaseMs: 30_000 })

describe.runIf(runSuite)('complete and completeAndClaim with { remove: true }', () => {
  const { a, ns } = sharedAdapter()

  async function active(s: string, leaseMs = 30_000): Promise<JobRecord> {
    const { job } = await a.broker.add(s, newJob('q'))
    const [c] = await a.broker.claim(s, 'q', { workerId: 'w1', limit: 1, leaseMs })
    expect(c!.id).toBe(job!.id)
    return c!
  }

  test('complete deletes the job: no record, nothing counted as completed, and the id is free again', async () => {
    const s = ns()
    const job = await active(s)
    expect(await a.broker.complete(s, job.id, job.token!, { big: 'x'.repeat(100) }, REMOVE)).toBe(true)
    expect(await a.storage.getJob(s, job.id)).toBeNull()
    const counts = await a.storage.countJobs(s, 'q')
    expect(counts.completed).toBe(0)
    expect(Object.values(counts).every((c) => c === 0)).toBe(true)
    // a second completion with the same token finds nothing to complete
    expect(await a.broker.complete(s, job.id, job.token!, null, REMOVE)).toBe(false)

    const again = await a.broker.add(s, newJob('q', { id: job.id, data: { round: 2 } }))
    expect(again.outcome).toBe('created')
    expect(again.job).toMatchObject({ id: job.id, status: 'waiting', attempts: 0, data: { round: 2 } })
    const [c] = await a.broker.claim(s, 'q', { workerId: 'w1', limit: 1, leaseMs: 30_000 })
    expect(c).toMatchObject({ id: job.id, attempts: 1 })
    // the first run's token stays dead against the new job of the same id
    expect(await a.broker.complete(s, job.id, job.token!, null, REMOVE)).toBe(false)
    expect(await a.storage.getJob(s, job.id)).toMatchObject({ status: 'active', token: c!.token })
  })

  test('ids JSON must escape complete in one burst, lane jobs and row claims mixed, kept and removed', async () => {
    const s = ns()
    const ids = ['q"uote', 'back\\slash', 'new\nline', 'tab\tand\u0001ctl', 'ünïcødé 🎉', 'plain']
    await a.broker.add(s, newJob('q', { id: 'p"1', priority: 1 })) // a row claim: outside the lane
    for (const id of ids) await a.broker.add(s, newJob('q', { id }))
    const got = await a.broker.claim(s, 'q', { workerId: 'w1', limit: 10, leaseMs: 30_000 })
    expect(got.map((j) => j.id)).toEqual(['p"1', ...ids])
    const done = await Promise.all(
      got.map((j, i) => a.broker.complete(s, j.id, j.token!, { i }, i % 2 === 1 ? REMOVE : undefined)),
    )
    expect(done).toEqual(got.map(() => true))
    for (const [i, j] of got.entries()) {
      const rec = await a.storage.getJob(s, j.id)
      if (i % 2 === 1) expect(rec).toBeNull()
      else expect(rec).toMatchObject({ id: j.id, status: 'completed', result: { i } })
    }
  })

  test('a stale token deletes nothing and returns false; the live token still completes', async () => {
    const s = ns()
    const job = await active(s)
    const before = await a.storage.getJob(s, job.id)
    expect(await a.broker.complete(s, job.id, 'not-the-token', 'x', REMOVE)).toBe(false)
    expect(await a.storage.getJob(s, job.id)).toEqual(before)
    expect(await a.broker.complete(s, job.id, job.token!, 'x', REMOVE)).toBe(true)
    expect(await a.storage.getJob(s, job.id)).toBeNull()
  })

  test('a lease expired by the server clock deletes nothing, even with the right token', async () => {
    const s = ns()
    const job = await active(s, 150)
    await sleep(250)
    const before = await a.storage.getJob(s, job.id)
    expect(await a.broker.complete(s, job.id, job.token!, 'late', REMOVE)).toBe(false)
    expect(await a.broker.completeAndClaim!(s, job.id, job.token!, 'late', next(1), REMOVE)).toEqual({
      completed: false,
      jobs: [],
    })
    expect(await a.storage.getJob(s, job.id)).toEqual(before)
  })

  test('finished jobs are not deleted by a removing completion', async () => {
    const s = ns()
    const job = await active(s)
    expect(await a.broker.complete(s, job.id, job.token!, 'kept')).toBe(true)
    expect(await a.broker.complete(s, job.id, job.token!, 'kept', REMOVE)).toBe(false)
    expect(await a.storage.getJob(s, job.id)).toMatchObject({ status: 'completed', result: 'kept' })
  })

  test('completeAndClaim deletes the completed job and still claims the next', async () => {
    const s = ns()
    const first = await active(s)
    const { job: second } = await a.broker.add(s, newJob('q'))

    // stale: nothing deleted, nothing claimed
    expect(await a.broker.completeAndClaim!(s, first.id, 'stale', 'r', next(1), REMOVE)).toEqual({
      completed: false,
      jobs: [],
    })
    expect(await a.storage.getJob(s, first.id)).toMatchObject({ status: 'active', token: first.token })
    expect(await a.storage.getJob(s, second!.id)).toMatchObject({ status: 'waiting' })

    const outcome = await a.broker.completeAndClaim!(s, first.id, first.token!, 'r', next(1), REMOVE)
    expect(outcome.completed).toBe(true)
    expect(outcome.jobs).toHaveLength(1)
    expect(outcome.jobs[0]).toMatchObject({ id: second!.id, status: 'active', workerId: 'w2', attempts: 1 })
    expect(await a.storage.getJob(s, first.id)).toBeNull()
    expect(await a.storage.getJob(s, second!.id)).toMatchObject({
      status: 'active',
      token: outcome.jobs[0]!.token,
    })
    expect(await a.storage.countJobs(s, 'q')).toMatchObject({ active: 1, completed: 0, waiting: 0 })

    // with nothing left to claim it still deletes
    const last = outcome.jobs[0]!
    expect(await a.broker.completeAndClaim!(s, last.id, last.token!, null, next(1), REMOVE)).toEqual({
      completed: true,
      jobs: [],
    })
    expect(await a.storage.getJob(s, last.id)).toBeNull()
  })
})

describe.runIf(runSuite)('removing and keeping completions in the same tick', () => {
  const schema = randomSchema()
  // Every completion statement the adapter sends, with its input, to check how the burst was batched.
  const sent: { kind: 'delete' | 'update' | 'other'; ids: string[] }[] = []
  let client: Sql
  let a: PostgresAdapters
  let n = 0
  const ns = () => `mix-${++n}`

  beforeAll(async () => {
    client = postgres(DATABASE_URL, {
      max: 4,
      onnotice: () => {},
      debug: (_conn, query, params) => {
        if (!query.includes('jsonb_object_keys')) return
        const kind = /\bdelete from\b/.test(query) ? 'delete' : /\bupdate\b/.test(query) ? 'update' : 'other'
        // The input: an object keyed by job id.
        sent.push({ kind, ids: Object.keys(JSON.parse(String(params[1]))) })
      },
    }) as unknown as Sql
    a = postgresAdapter({ sql: client }, { schema })
    await a.open()
  })
  afterAll(async () => {
    await a.close()
    await client.end({ timeout: 1 })
    await dropSchema(schema)
  })

  /** Each statement carried only completions of one kind, and both kinds were sent. */
  function expectBatchedApart(removed: Set<string>, kept: Set<string>) {
    expect(sent.every((x) => x.kind !== 'other')).toBe(true)
    expect(sent.some((x) => x.kind === 'delete')).toBe(true)
    expect(sent.some((x) => x.kind === 'update')).toBe(true)
    for (const x of sent) {
      for (const id of x.ids) expect(x.kind === 'delete' ? removed.has(id) : kept.has(id)).toBe(true)
    }
  }

  test('complete: each completion gets its own behaviour, stale ones are fenced in both kinds', async () => {
    const s = ns()
    await a.broker.addBulk(
      s,
      Array.from({ length: 24 }, () => newJob('q')),
    )
    const jobs = await a.broker.claim(s, 'q', { workerId: 'w', limit: 24, leaseMs: 30_000 })
    expect(jobs).toHaveLength(24)
    const remove = (i: number) => i % 2 === 0
    const stale = (i: number) => i % 3 === 0
    sent.length = 0
    const answers = await Promise.all(
      jobs.map((j, i) =>
        a.broker.complete(s, j.id, stale(i) ? 'stale' : j.token!, { i }, remove(i) ? REMOVE : undefined),
      ),
    )
    expectBatchedApart(
      new Set(jobs.filter((_, i) => remove(i)).map((j) => j.id)),
      new Set(jobs.filter((_, i) => !remove(i)).map((j) => j.id)),
    )
    for (const [i, j] of jobs.entries()) {
      expect(answers[i]).toBe(!stale(i))
      const rec = await a.storage.getJob(s, j.id)
      if (stale(i)) expect(rec).toMatchObject({ status: 'active', token: j.token, result: null })
      else if (remove(i)) expect(rec).toBeNull()
      else expect(rec).toMatchObject({ status: 'completed', result: { i }, token: null })
    }
    // 24 jobs: 8 stale stay active; of the 16 completed, 8 were removed (i even) and 8 kept
    expect(await a.storage.countJobs(s, 'q')).toMatchObject({ active: 8, completed: 8 })
  })

  test('completeAndClaim: removing and keeping completions of one queue each behave as asked and each claim', async () => {
    const s = ns()
    await a.broker.addBulk(
      s,
      Array.from({ length: 20 }, () => newJob('q')),
    )
    const jobs = await a.broker.claim(s, 'q', { workerId: 'w', limit: 10, leaseMs: 30_000 })
    expect(jobs).toHaveLength(10)
    const remove = (i: number) => i % 2 === 1
    sent.length = 0
    const outcomes = await Promise.all(
      jobs.map((j, i) =>
        a.broker.completeAndClaim!(s, j.id, j.token!, { i }, next(1), remove(i) ? REMOVE : undefined),
      ),
    )
    expectBatchedApart(
      new Set(jobs.filter((_, i) => remove(i)).map((j) => j.id)),
      new Set(jobs.filter((_, i) => !remove(i)).map((j) => j.id)),
    )
    const claimed = outcomes.flatMap((o) => o.jobs)
    expect(outcomes.every((o) => o.completed && o.jobs.length === 1)).toBe(true)
    expect(new Set(claimed.map((j) => j.id)).size).toBe(10)
    for (const [i, j] of jobs.entries()) {
      const rec = await a.storage.getJob(s, j.id)
      if (remove(i)) expect(rec).toBeNull()
      else expect(rec).toMatchObject({ status: 'completed', result: { i } })
    }
    for (const j of claimed)
      expect(await a.storage.getJob(s, j.id)).toMatchObject({ status: 'active', token: j.token })
    expect(await a.storage.countJobs(s, 'q')).toMatchObject({ active: 10, completed: 5, waiting: 0 })
  })
})

describe.runIf(runSuite)('removeOnComplete: true through the engine', () => {
  const schema = randomSchema('oqr')
  const quiet = { debug() {}, info() {}, warn() {}, error() {} }
  let sql: Sql
  let runtime: OqronRuntime

  beforeAll(async () => {
    sql = adminSql()
  })
  afterAll(async () => {
    await runtime?.stop()
    await sql.end()
    await dropSchema(schema)
  })

  test('no job is ever stored completed: each completion deletes its row', async () => {
    runtime = new OqronRuntime()
    const ran: number[] = []
    const work = queue<{ n: number }, number>({
      name: 'gone',
      runtime,
      concurrency: 3,
      removeOnComplete: true,
      handler: async (ctx) => {
        await sleep(5)
        ran.push(ctx.data.n)
        return ctx.data.n
      },
    })
    await runtime.init({
      adapters: postgresAdapter({ url: DATABASE_URL }, { schema }),
      shutdown: { signals: false },
      logger: quiet,
    })
    // Record every row that is ever written as completed (a retention sweep would delete it later).
    await sql.unsafe(`
      create table "${schema}".seen_completed (id text);
      create function "${schema}".log_completed() returns trigger language plpgsql as $$
        begin insert into "${schema}".seen_completed values (new.id); return new; end $$;
      create trigger log_completed after update on "${schema}".jobs
        for each row when (new.status = 'completed') execute function "${schema}".log_completed();
    `)

    await work.addBulk(Array.from({ length: 30 }, (_, n) => ({ data: { n }, options: { jobId: `g-${n}` } })))
    await vi.waitFor(() => expect(ran).toHaveLength(30), { timeout: 15_000, interval: 50 })
    await vi.waitFor(
      async () => {
        const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".jobs`)
        expect(row!.n).toBe(0)
      },
      { timeout: 5_000, interval: 50 },
    )
    const [seen] = await sql.unsafe(`select count(*)::int as n from "${schema}".seen_completed`)
    expect(seen!.n).toBe(0)
    expect(await work.getJob('g-0')).toBeNull()
    // the ids are free again
    const again = await work.add({ n: 0 }, { jobId: 'g-0' })
    expect(again.outcome).toBe('created')
    await vi.waitFor(() => expect(ran).toHaveLength(31), { timeout: 10_000, interval: 50 })
  })
})
