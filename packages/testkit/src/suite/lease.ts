import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { sleep } from '../util.js'
import {
  addJob,
  claimOne,
  getJob,
  LONG_LEASE_MS,
  needsControllableClock,
  SHORT_LEASE_MS,
  waitForStall,
} from './helpers.js'

/** Lease and lock lengths no backend can hold: a NaN lease never counts as live nor expired, Infinity never expires. */
export const BAD_DURATIONS = [Number.NaN, Number.POSITIVE_INFINITY, 0, -1]

/** Asserts that `call` rejects with OqronConfigError (a bad argument, refused before anything was written). */
export async function rejectsAsConfig(call: () => Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(call, (error: Error) => error.name === 'OqronConfigError', `${what}: OqronConfigError`)
}

export const leaseChecks: ContractCheck[] = [
  {
    id: 'lease.bad-length',
    title:
      'claim() and renew() refuse a leaseMs that is not a finite number > 0 with OqronConfigError, changing nothing',
    async run(t) {
      const added = await addJob(t)
      for (const leaseMs of BAD_DURATIONS) {
        await rejectsAsConfig(
          () => t.adapters.broker.claim(t.ns, t.queue, { workerId: 'w', limit: 1, leaseMs }),
          `claim with leaseMs ${leaseMs}`,
        )
      }
      assert.equal((await getJob(t, added.id)).status, 'waiting', 'a refused claim takes nothing')
      const claimed = await claimOne(t, { leaseMs: 60_000 })
      for (const leaseMs of BAD_DURATIONS) {
        await rejectsAsConfig(
          () => t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, leaseMs),
          `renew with leaseMs ${leaseMs}`,
        )
      }
      const after = await getJob(t, claimed.id)
      assert.equal(after.lockExpiresAt, claimed.lockExpiresAt, 'a refused renew leaves the lease as it was')
      assert.equal(await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, 'ok'), true)
    },
  },
  {
    id: 'lease.renew-extends',
    title: 'renew() with the live token returns ok and moves lockExpiresAt to backend now + leaseMs',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t, { leaseMs: 2_000 })
      assert.equal(await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, 60_000), 'ok')
      const after = await getJob(t, claimed.id)
      assert.ok(
        after.lockExpiresAt! >= claimed.lockExpiresAt! + 50_000,
        `lockExpiresAt should move ~58 s later, moved ${after.lockExpiresAt! - claimed.lockExpiresAt!} ms`,
      )
      assert.equal(after.token, claimed.token, 'renew keeps the token')
      assert.equal(after.attempts, 1, 'renew does not count an attempt')
    },
  },
  {
    id: 'lease.renewals-keep-it',
    title: 'a lease renewed in time never expires: the stall scan leaves it alone and complete() succeeds',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t, { leaseMs: 1_000 })
      const until = Date.now() + 2_500
      while (Date.now() < until) {
        assert.equal(await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, 1_000), 'ok')
        const recovered = await t.adapters.broker.recoverStalled(t.ns, t.queue, {
          maxStalledCount: 1,
          limit: 10,
        })
        assert.deepEqual(recovered, [], 'a renewed lease must not be recovered')
        await sleep(100)
      }
      assert.equal(await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, 'ok'), true)
    },
  },
  {
    id: 'lease.expiry',
    title:
      'an unrenewed lease expires by the backend clock: renew() says lost and the stall scan takes the job',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
      const outcome = await waitForStall(t, claimed.id)
      assert.equal(outcome.action, 'requeued')
      assert.equal(await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, LONG_LEASE_MS), 'lost')
    },
  },
  {
    id: 'lease.expired-token-is-dead',
    title: 'once its lease expired, a token can neither renew nor settle, even before any scan or re-claim',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
      await sleep(SHORT_LEASE_MS + 250)
      assert.equal(await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, LONG_LEASE_MS), 'lost')
      assert.equal(await t.adapters.broker.complete(t.ns, claimed.id, claimed.token!, 'late'), false)
      const after = await getJob(t, claimed.id)
      assert.notEqual(after.status, 'completed', 'an expired lease must not complete the job')
    },
  },
  {
    id: 'lease.backend-clock',
    title:
      "expiry follows the backend's clock, not the caller's Date.now(): a backend clock ahead expires the lease",
    skip: needsControllableClock,
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t, { leaseMs: 60_000 })
      t.clock!.advance(61_000)
      assert.equal(await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, 60_000), 'lost')
      const outcomes = await t.adapters.broker.recoverStalled(t.ns, t.queue, {
        maxStalledCount: 5,
        limit: 10,
      })
      assert.deepEqual(
        outcomes.map((o) => o.job.id),
        [claimed.id],
      )
    },
  },
  {
    id: 'lease.renew-cancelled',
    title: 'renew() of a cancelled job returns cancelled, so the heartbeat aborts the handler',
    async run(t) {
      await addJob(t)
      const claimed = await claimOne(t)
      await t.adapters.broker.cancel(t.ns, claimed.id)
      assert.equal(
        await t.adapters.broker.renew(t.ns, claimed.id, claimed.token!, LONG_LEASE_MS),
        'cancelled',
      )
    },
  },
]
