import type { OqronAdapters } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { getCheck, runContractCheck } from '@oqronkit/testkit'
import { describe, expect, it } from 'vitest'
import {
  nonAtomicClaim,
  noWakeups,
  racyAdd,
  removeBeforeFence,
  unfencedComplete,
  unfencedLockRelease,
} from './fixtures/broken.js'

/** The suite tests itself: each check must fail against an adapter broken in its way, and pass on memory. */
const cases: { broken: string; make: () => OqronAdapters; check: string; message: RegExp }[] = [
  {
    broken: 'a claim that is not atomic',
    make: nonAtomicClaim,
    check: 'claim.exclusive',
    message: /claimed twice/,
  },
  {
    broken: 'a complete that ignores the token',
    make: unfencedComplete,
    check: 'fencing.complete',
    message: /stale token must be rejected/,
  },
  {
    broken: 'a removing completion that deletes before checking the token',
    make: removeBeforeFence,
    check: 'remove-on-complete.fenced',
    message: /should find the job/,
  },
  {
    broken: 'a lock release that ignores the token',
    make: unfencedLockRelease,
    check: 'locks.expiry-fencing',
    message: /stale token cannot release/,
  },
  {
    broken: 'an add that is not atomic',
    make: racyAdd,
    check: 'add.idempotent',
    message: /exactly one add creates the job/,
  },
  {
    broken: 'a waitForWork without wake-ups',
    make: noWakeups,
    check: 'wakeups.add',
    message: /must wake on add/,
  },
]

describe('the contract suite catches broken adapters', () => {
  for (const c of cases) {
    it(`${c.check} fails against ${c.broken}`, async () => {
      await expect(runContractCheck({ name: 'broken', create: c.make }, getCheck(c.check))).rejects.toThrow(
        c.message,
      )
    })

    it(`${c.check} passes against the memory adapter (the control)`, async () => {
      await expect(
        runContractCheck({ name: 'memory', create: () => memoryAdapter() }, getCheck(c.check)),
      ).resolves.toBeUndefined()
    })
  }
})
