import assert from 'node:assert/strict'
import type { ContractCheck } from '../types.js'
import { randomId, sleep, waitUntil } from '../util.js'
import { needsControllableClock, SHORT_LEASE_MS } from './helpers.js'
import { BAD_DURATIONS, rejectsAsConfig } from './lease.js'

export const lockChecks: ContractCheck[] = [
  {
    id: 'locks.bad-ttl',
    title:
      'acquire() and renew() refuse a ttlMs that is not a finite number > 0 with OqronConfigError, taking nothing',
    async run(t) {
      const { lock } = t.adapters
      const key = randomId('k')
      for (const ttlMs of BAD_DURATIONS) {
        await rejectsAsConfig(() => lock.acquire(t.ns, key, 'node-a', ttlMs), `acquire with ttlMs ${ttlMs}`)
      }
      const held = await lock.acquire(t.ns, key, 'node-b', 60_000)
      assert.ok(held, 'the refused acquires took nothing')
      for (const ttlMs of BAD_DURATIONS) {
        await rejectsAsConfig(() => lock.renew(t.ns, key, held!, ttlMs), `renew with ttlMs ${ttlMs}`)
      }
      assert.equal(await lock.isOwner(t.ns, key, held!), true, 'a refused renew leaves the lock held')
      assert.equal(await lock.release(t.ns, key, held!), true)
    },
  },
  {
    id: 'locks.basics',
    title: 'acquire/isOwner/renew/release: one holder at a time, unique tokens, free again after release',
    async run(t) {
      const { lock } = t.adapters
      const key = randomId('k')
      const a = await lock.acquire(t.ns, key, 'node-a', 60_000)
      assert.equal(typeof a, 'string', 'a free lock is acquired')
      assert.equal(await lock.acquire(t.ns, key, 'node-b', 60_000), null, 'a held lock is not acquired again')
      assert.equal(await lock.acquire(t.ns, key, 'node-a', 60_000), null, 'not even by the same owner name')
      assert.equal(await lock.isOwner(t.ns, key, a!), true)
      assert.equal(await lock.isOwner(t.ns, key, `${a}x`), false)
      assert.equal(await lock.renew(t.ns, key, a!, 60_000), true)
      assert.equal(await lock.release(t.ns, key, a!), true)
      assert.equal(await lock.isOwner(t.ns, key, a!), false)
      assert.equal(await lock.release(t.ns, key, a!), false, 'released once')
      assert.equal(await lock.renew(t.ns, key, a!, 60_000), false, 'a released token cannot renew')
      const b = await lock.acquire(t.ns, key, 'node-b', 60_000)
      assert.ok(b, 'free again after release')
      assert.notEqual(b, a, 'every acquire gets a new token')
      const other = await lock.acquire(t.ns, randomId('k'), 'node-a', 60_000)
      assert.ok(other, 'keys are independent')
    },
  },
  {
    id: 'locks.contention',
    title: 'of 20 concurrent acquire() calls on a free key (from two nodes), exactly one gets a token',
    async run(t) {
      const peer = await t.peer()
      const key = randomId('k')
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? t.adapters : peer).lock.acquire(t.ns, key, `n${i}`, 60_000),
        ),
      )
      assert.equal(results.filter((r) => r !== null).length, 1)
    },
  },
  {
    id: 'locks.expiry-fencing',
    title: 'after the TTL another owner takes the lock; the old token can no longer renew, release or own it',
    async run(t) {
      const { lock } = t.adapters
      const key = randomId('k')
      const a = await lock.acquire(t.ns, key, 'node-a', SHORT_LEASE_MS)
      assert.ok(a)
      const b = await waitUntil(() => lock.acquire(t.ns, key, 'node-b', 60_000), {
        timeoutMs: 15_000,
        what: 'the expired lock to be acquirable',
      })
      assert.equal(await lock.isOwner(t.ns, key, a), false)
      assert.equal(await lock.renew(t.ns, key, a, 60_000), false, 'a stale token cannot renew')
      assert.equal(await lock.release(t.ns, key, a), false, 'a stale token cannot release')
      assert.equal(await lock.isOwner(t.ns, key, b), true, "the stale calls left the new owner's lock alone")
    },
  },
  {
    id: 'locks.expired-not-owner',
    title: 'an expired lock is not owned, even before anyone else acquires it',
    async run(t) {
      const { lock } = t.adapters
      const key = randomId('k')
      const a = await lock.acquire(t.ns, key, 'node-a', SHORT_LEASE_MS)
      assert.ok(a)
      await sleep(SHORT_LEASE_MS + 250)
      assert.equal(await lock.isOwner(t.ns, key, a), false)
      assert.equal(
        await lock.renew(t.ns, key, a, 60_000),
        false,
        'an expired lock cannot be renewed back to life',
      )
    },
  },
  {
    id: 'locks.leader-handover',
    title:
      'leader election: a renewing leader keeps the lock; once it stops, the follower takes over after the TTL',
    async run(t) {
      const peer = await t.peer()
      const key = randomId('leader')
      const ttl = 600
      const leader = await t.adapters.lock.acquire(t.ns, key, 'leader', ttl)
      assert.ok(leader)
      const until = Date.now() + 1_500
      while (Date.now() < until) {
        assert.equal(await t.adapters.lock.renew(t.ns, key, leader, ttl), true, 'the leader renews in time')
        assert.equal(
          await peer.lock.acquire(t.ns, key, 'follower', ttl),
          null,
          'the follower stays a follower',
        )
        await sleep(100)
      }
      const stoppedAt = Date.now()
      const follower = await waitUntil(() => peer.lock.acquire(t.ns, key, 'follower', ttl), {
        timeoutMs: 15_000,
        what: 'the follower to take the lock after the leader stopped renewing',
      })
      assert.ok(Date.now() - stoppedAt >= 0)
      assert.equal(await peer.lock.isOwner(t.ns, key, follower), true)
      assert.equal(await t.adapters.lock.renew(t.ns, key, leader, ttl), false, 'the old leader is fenced out')
    },
  },
  {
    id: 'locks.backend-clock',
    title: "lock expiry follows the backend's clock, not the caller's Date.now()",
    skip: needsControllableClock,
    async run(t) {
      const key = randomId('k')
      const a = await t.adapters.lock.acquire(t.ns, key, 'a', 60_000)
      assert.ok(a)
      t.clock!.advance(61_000)
      assert.equal(await t.adapters.lock.isOwner(t.ns, key, a), false)
      assert.ok(await t.adapters.lock.acquire(t.ns, key, 'b', 60_000))
    },
  },
]
