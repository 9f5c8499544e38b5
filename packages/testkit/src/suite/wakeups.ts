import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { sleep, within } from '../util.js'
import { addJob, claimOne, needs } from './helpers.js'

/** A wait far longer than any liveness bound below: resolving before it proves a wake-up. */
const LONG_WAIT_MS = 60_000
/** A generous liveness bound for a wake-up on a loaded machine. */
const WAKE_BOUND_MS = 5_000

export const wakeupChecks: ContractCheck[] = [
  {
    id: 'wakeups.add',
    title: 'waitForWork() of an idle consumer returns soon after add() (not at its timeout)',
    skip: needs('blockingWakeups'),
    async run(t) {
      const abort = new AbortController()
      t.defer(() => abort.abort())
      const peer = await t.peer()
      const waiting = peer.broker.waitForWork(t.ns, t.queue, LONG_WAIT_MS, abort.signal)
      await sleep(100)
      await addJob(t)
      assert.notEqual(await within(waiting, WAKE_BOUND_MS), 'timeout', 'waitForWork must wake on add')
    },
  },
  {
    id: 'wakeups.delayed-due',
    title: 'waitForWork() returns soon after a delayed job comes due',
    skip: needs('blockingWakeups'),
    async run(t) {
      const abort = new AbortController()
      t.defer(() => abort.abort())
      await addJob(t, { delayMs: 400 })
      const started = Date.now()
      // A false wake-up is allowed: wait again until the job is claimable or the bound passes.
      for (;;) {
        const outcome = await within(
          t.adapters.broker.waitForWork(t.ns, t.queue, LONG_WAIT_MS, abort.signal),
          WAKE_BOUND_MS,
        )
        assert.notEqual(outcome, 'timeout', 'waitForWork must wake when a delayed job comes due')
        const jobs = await t.adapters.broker.claim(t.ns, t.queue, {
          workerId: 'w',
          limit: 1,
          leaseMs: 60_000,
        })
        if (jobs.length === 1) break
        assert.ok(Date.now() - started < WAKE_BOUND_MS, 'the delayed job became claimable after a wake-up')
      }
    },
  },
  {
    id: 'wakeups.resume-release',
    title: 'waitForWork() returns soon after resume() and after release()',
    skip: needs('blockingWakeups'),
    async run(t) {
      const abort = new AbortController()
      t.defer(() => abort.abort())
      await t.adapters.broker.pause(t.ns, t.queue)
      await addJob(t)
      const paused = t.adapters.broker.waitForWork(t.ns, t.queue, LONG_WAIT_MS, abort.signal)
      await sleep(100)
      await t.adapters.broker.resume(t.ns, t.queue)
      assert.notEqual(await within(paused, WAKE_BOUND_MS), 'timeout', 'waitForWork must wake on resume')
      const claimed = await claimOne(t)
      const idle = t.adapters.broker.waitForWork(t.ns, t.queue, LONG_WAIT_MS, abort.signal)
      await sleep(100)
      await t.adapters.broker.release(t.ns, claimed.id, claimed.token!)
      assert.notEqual(await within(idle, WAKE_BOUND_MS), 'timeout', 'waitForWork must wake on release')
    },
  },
  {
    id: 'wakeups.timeout',
    title: 'waitForWork() on an empty queue resolves by its timeout',
    async run(t) {
      const abort = new AbortController()
      t.defer(() => abort.abort())
      const outcome = await within(
        t.adapters.broker.waitForWork(t.ns, t.queue, 300, abort.signal),
        300 + WAKE_BOUND_MS,
      )
      assert.notEqual(outcome, 'timeout', 'waitForWork(300) must resolve')
    },
  },
  {
    id: 'wakeups.abort',
    title: 'waitForWork() resolves at once when its signal aborts, or was aborted already',
    async run(t) {
      const abort = new AbortController()
      const waiting = t.adapters.broker.waitForWork(t.ns, t.queue, LONG_WAIT_MS, abort.signal)
      await sleep(50)
      abort.abort()
      assert.notEqual(await within(waiting, WAKE_BOUND_MS), 'timeout', 'an abort ends the wait')
      const pre = await within(
        t.adapters.broker.waitForWork(t.ns, t.queue, LONG_WAIT_MS, abort.signal),
        WAKE_BOUND_MS,
      )
      assert.notEqual(pre, 'timeout', 'an aborted signal returns at once')
    },
  },
]
