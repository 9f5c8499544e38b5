import assert from 'node:assert/strict'
import type { JobRecord } from '@oqronkit/core'
import type { CheckContext, ContractCheck } from '../types.js'
import { getJob, LONG_LEASE_MS, reclaimed, snapshot } from './helpers.js'

/** One token-taking write, with the stale token (must change nothing) and the live one (must work). */
interface FencedWrite {
  name: string
  /** Returns true when the backend accepted the write. */
  write(t: CheckContext, job: JobRecord, token: string): Promise<boolean>
  /** What the live token's write leaves behind. */
  verify(after: JobRecord): void
}

const writes: FencedWrite[] = [
  {
    name: 'renew',
    write: async (t, job, token) =>
      (await t.adapters.broker.renew(t.ns, job.id, token, LONG_LEASE_MS * 2)) === 'ok',
    verify: (after) => assert.equal(after.status, 'active'),
  },
  {
    name: 'progress',
    write: (t, job, token) => t.adapters.broker.progress(t.ns, job.id, token, 42, 'stale?'),
    verify: (after) => {
      assert.equal(after.progress, 42)
      assert.equal(after.progressLabel, 'stale?')
      assert.ok(
        after.timeline.some((e) => e.event === 'progress'),
        'a `progress` entry is appended',
      )
    },
  },
  {
    name: 'log',
    write: (t, job, token) =>
      t.adapters.broker.log(t.ns, job.id, token, {
        at: 0,
        event: 'log',
        workerId: 'w',
        detail: 'fencing-log-line',
      }),
    verify: (after) =>
      assert.ok(after.timeline.some((e) => e.event === 'log' && e.detail === 'fencing-log-line')),
  },
  {
    name: 'complete',
    write: (t, job, token) => t.adapters.broker.complete(t.ns, job.id, token, { by: token }),
    verify: (after) => {
      assert.equal(after.status, 'completed')
      assert.equal(after.token, null, 'complete clears the lease')
      assert.notEqual(after.finishedAt, null)
    },
  },
  {
    name: 'fail-final',
    write: (t, job, token) =>
      t.adapters.broker.fail(t.ns, job.id, token, {
        error: { name: 'Error', message: 'boom' },
        retryDelayMs: null,
      }),
    verify: (after) => {
      assert.equal(after.status, 'failed')
      assert.equal(after.error?.message, 'boom')
    },
  },
  {
    name: 'fail-retry',
    write: (t, job, token) =>
      t.adapters.broker.fail(t.ns, job.id, token, {
        error: { name: 'Error', message: 'again' },
        retryDelayMs: 0,
      }),
    verify: (after) => {
      assert.ok(after.status === 'waiting', `a retried job goes back to waiting, got ${after.status}`)
      assert.equal(after.token, null)
    },
  },
  {
    name: 'release',
    write: (t, job, token) => t.adapters.broker.release(t.ns, job.id, token),
    verify: (after) => {
      assert.equal(after.status, 'waiting')
      assert.equal(after.token, null)
    },
  },
]

export const fencingChecks: ContractCheck[] = writes.map((w) => ({
  id: `fencing.${w.name}`,
  title: `${w.name}() with a stale token (after the job was re-claimed) or a made-up one changes nothing; the live token works`,
  async run(t) {
    const { stale, live } = await reclaimed(t)
    const before = snapshot(await getJob(t, live.id))
    assert.equal(
      await w.write(t, live, stale.token!),
      false,
      `${w.name}() with the stale token must be rejected`,
    )
    assert.equal(
      await w.write(t, live, `${live.token}-forged`),
      false,
      `${w.name}() with a made-up token must be rejected`,
    )
    assert.deepEqual(
      snapshot(await getJob(t, live.id)),
      before,
      `a rejected ${w.name}() must leave the job untouched`,
    )
    assert.equal(
      await w.write(t, live, live.token!),
      true,
      `${w.name}() with the live token must be accepted`,
    )
    w.verify(await getJob(t, live.id))
  },
}))

/**
 * A batching backend may send the completions of one tick together: a stale run's completion sent in the
 * same tick as the re-run's, ahead of it, must neither hide the valid one nor be taken for it.
 */
export const sameBurstCheck: ContractCheck = {
  id: 'fencing.same-burst',
  title:
    'complete() with the stale token and with the live one in the same tick (stale first): only the live one is accepted, and its result is stored',
  async run(t) {
    const { stale, live } = await reclaimed(t)
    const answers = await Promise.all([
      t.adapters.broker.complete(t.ns, live.id, stale.token!, { by: 'stale' }),
      t.adapters.broker.complete(t.ns, live.id, live.token!, { by: 'live' }),
      t.adapters.broker.complete(t.ns, live.id, `${live.token}-forged`, { by: 'forged' }),
    ])
    assert.deepEqual(answers, [false, true, false], 'only the completion with the live token is accepted')
    const after = await getJob(t, live.id)
    assert.equal(after.status, 'completed')
    assert.deepEqual(after.result, { by: 'live' }, "the live run's result is stored")
  },
}
