import { UnserializableDataError } from '@oqronkit/core'
import { describe, expect, test } from 'vitest'
import { newJob, runSuite, sharedAdapter } from './helpers.js'

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
