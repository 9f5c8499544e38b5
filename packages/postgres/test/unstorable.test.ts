import { OqronConfigError, UnserializableDataError } from '@oqronkit/core'
import { OqronRuntime, queue } from 'oqronkit'
import { postgresAdapter } from 'oqronkit/postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DATABASE_URL, dropSchema, newJob, randomSchema, runSuite, sharedAdapter } from './helpers.js'

/**
 * Values JSON can carry but a `jsonb` column cannot store: a NUL character (`\u0000`) and a lone UTF-16
 * surrogate. Core's assertSerializable lets them through (they are valid JavaScript strings), so the adapter
 * must keep them from failing the statements that group other jobs' settles.
 */
describe.runIf(runSuite)('results jsonb cannot store', () => {
  const { a, ns } = sharedAdapter()

  async function claimSome(s: string, n: number) {
    await a.broker.addBulk(
      s,
      Array.from({ length: n }, () => newJob('q')),
    )
    const claimed = await a.broker.claim(s, 'q', { workerId: 'w1', limit: n, leaseMs: 30_000 })
    expect(claimed).toHaveLength(n)
    return claimed
  }

  test.each([
    ['a NUL character', 'a\u0000b'],
    ['a lone surrogate', { text: 'x\ud800y' }],
  ])('a result with %s fails its own completion only, not the others of the same burst', async (_, bad) => {
    const s = ns()
    const [good, poisoned] = await claimSome(s, 2)
    // Same tick: one completion statement (group commit).
    const [okGood, okBad] = await Promise.allSettled([
      a.broker.complete(s, good!.id, good!.token!, { ok: true }),
      a.broker.complete(s, poisoned!.id, poisoned!.token!, bad),
    ])
    expect(okGood).toEqual({ status: 'fulfilled', value: true })
    expect((await a.storage.getJob(s, good!.id))!.status).toBe('completed')
    expect(okBad.status).toBe('rejected')
    expect((okBad as PromiseRejectedResult).reason).toBeInstanceOf(UnserializableDataError)
    expect((await a.storage.getJob(s, poisoned!.id))!.status).toBe('active')
  })

  test('completeAndClaim: a result with a NUL character fails its own completion only', async () => {
    const s = ns()
    const [good, poisoned, third] = await claimSome(s, 3)
    await a.broker.add(s, newJob('q'))
    const next = { workerId: 'w1', limit: 1, leaseMs: 30_000, queue: 'q' }
    // Same tick: a burst of three, sent as two statements (the first two jobs, then the third).
    const [okGood, okBad] = await Promise.allSettled([
      a.broker.completeAndClaim!(s, good!.id, good!.token!, { ok: true }, next),
      a.broker.completeAndClaim!(s, poisoned!.id, poisoned!.token!, 'a\u0000b', next),
      a.broker.completeAndClaim!(s, third!.id, third!.token!, null, next),
    ])
    expect(okGood.status).toBe('fulfilled')
    expect((okGood as PromiseFulfilledResult<{ completed: boolean }>).value.completed).toBe(true)
    expect((await a.storage.getJob(s, good!.id))!.status).toBe('completed')
    expect((okBad as PromiseRejectedResult).reason).toBeInstanceOf(UnserializableDataError)
    expect((await a.storage.getJob(s, poisoned!.id))!.status).toBe('active')
  })

  test('log and progress text with a NUL character or a lone surrogate is recorded, as U+FFFD', async () => {
    const s = ns()
    const [job] = await claimSome(s, 1)
    const entry = { at: 0, event: 'log' as const, workerId: 'w\ud800', detail: 'read \u0000 and \ud800' }
    expect(await a.broker.log(s, job!.id, job!.token!, entry)).toBe(true)
    expect(await a.broker.progress(s, job!.id, job!.token!, 40, 'step \u0000')).toBe(true)
    const stored = await a.storage.getJob(s, job!.id)
    expect(stored).toMatchObject({ progress: 40, progressLabel: 'step \ufffd' })
    expect(stored!.timeline.slice(-2)).toMatchObject([
      { event: 'log', workerId: 'w\ufffd', detail: 'read \ufffd and \ufffd' },
      { event: 'progress', detail: '40% step \ufffd' },
    ])
  })

  test.each([
    ['for good', null],
    ['with a retry', 0],
  ])('fail %s stores an error whose message has a NUL character or a lone surrogate', async (_, delay) => {
    const s = ns()
    const [job] = await claimSome(s, 1)
    const error = { name: 'Error\u0000', message: 'bad byte \u0000 and \ud800 here', stack: 'at \u0000' }
    expect(await a.broker.fail(s, job!.id, job!.token!, { error, retryDelayMs: delay })).toBe(true)
    const stored = await a.storage.getJob(s, job!.id)
    expect(stored!.status).toBe(delay === null ? 'failed' : 'waiting')
    expect(stored!.error).toEqual({
      name: 'Error\ufffd',
      message: 'bad byte \ufffd and \ufffd here',
      stack: 'at \ufffd',
    })
  })
})

describe.runIf(runSuite)('job data jsonb cannot store', () => {
  const { a, ns } = sharedAdapter()

  test.each([
    ['a NUL character', { text: 'a\u0000b' }, 'data.text'],
    ['a lone surrogate in a key', { 'k\ud800': 1 }, 'data.k\ud800'],
  ])(
    'add of data with %s fails with UnserializableDataError naming it, and stores nothing',
    async (_, data, path) => {
      const s = ns()
      const job = newJob('q', { data })
      const error = await a.broker.add(s, job).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UnserializableDataError)
      expect((error as UnserializableDataError).path).toBe(path)
      expect(await a.storage.getJob(s, job.id)).toBeNull()
    },
  )

  test('a bulk add names the job, and stores none of the bulk', async () => {
    const s = ns()
    const jobs = [newJob('q'), newJob('q', { data: ['ok', 'a\u0000'] }), newJob('q')]
    const error = await a.broker.addBulk(s, jobs).catch((e: unknown) => e)
    expect((error as UnserializableDataError).path).toBe('[1].data[1]')
    expect((await a.storage.countJobs(s, 'q')).waiting).toBe(0)
  })
})

describe.runIf(runSuite)('a handler whose result jsonb cannot store, through the engine', () => {
  const schema = randomSchema('oqu')
  const runtime = new OqronRuntime()
  const failed: { id: string; name: string; final: boolean }[] = []
  const completed: string[] = []
  const [kept, removed] = [false, true].map((remove) =>
    queue<{ bad: boolean }, string>({
      name: `unstorable-${remove}`,
      runtime,
      concurrency: 4,
      removeOnComplete: remove,
      lockTtlMs: 30_000,
      retries: { max: 0 },
      handler: async (ctx) => (ctx.data.bad ? 'a\u0000b' : 'fine'),
    }),
  )
  beforeAll(async () => {
    runtime.on('failed', (e) => failed.push({ id: e.job.id, name: e.error.name, final: e.final }))
    runtime.on('completed', (e) => completed.push(e.job.id))
    await runtime.init({
      adapters: postgresAdapter({ url: DATABASE_URL }, { schema }),
      shutdown: { signals: false },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    })
  })
  afterAll(async () => {
    await runtime.stop()
    await dropSchema(schema)
  })

  async function run(q: typeof kept, settled: (bad: string) => boolean) {
    const t0 = Date.now()
    const [bad, good1, good2] = await q!.addBulk([
      { data: { bad: true } },
      { data: { bad: false } },
      { data: { bad: false } },
    ])
    const done = () => settled(bad!.id) && [good1, good2].every((g) => completed.includes(g!.id))
    for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 50))
    expect(done()).toBe(true)
    // Well inside the 30 s lease: the completion was not retried until the job stalled and ran again.
    expect(Date.now() - t0).toBeLessThan(5_000)
    return bad!.id
  }

  test('kept: the run fails at once with UnserializableDataError; the other jobs of the burst complete', async () => {
    const bad = await run(kept, (id) => failed.some((f) => f.id === id))
    expect(failed.filter((f) => f.id === bad)).toEqual([
      { id: bad, name: 'UnserializableDataError', final: true },
    ])
    expect(await kept!.getJob(bad)).toMatchObject({
      status: 'failed',
      attempts: 1,
      result: null,
      error: { name: 'UnserializableDataError' },
    })
  })

  test('removed on completion: the result is stored nowhere, so the job completes', async () => {
    const bad = await run(removed, (id) => completed.includes(id))
    expect(failed.filter((f) => f.id === bad)).toEqual([])
    expect(await removed!.getJob(bad)).toBeNull()
  })
})

describe.runIf(runSuite)('job ids a text column cannot store', () => {
  const { a, ns } = sharedAdapter()

  test.each([
    ['a NUL character', 'id\u0000x'],
    ['a lone surrogate', 'id\ud800x'],
  ])('an add whose id has %s fails with OqronConfigError and stores nothing', async (_, id) => {
    const s = ns()
    const one = await a.broker.add(s, newJob('q', { id })).catch((e: unknown) => e)
    expect(one).toBeInstanceOf(OqronConfigError)
    expect((one as OqronConfigError).field).toBe('id')
    const bulk = await a.broker.addBulk(s, [newJob('q'), newJob('q', { id })]).catch((e: unknown) => e)
    expect(bulk).toBeInstanceOf(OqronConfigError)
    expect((await a.storage.listJobs(s, { limit: 10 })).jobs).toEqual([])
  })
})
