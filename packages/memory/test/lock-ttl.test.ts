import { OqronConfigError } from '@oqronkit/core'
import { describe, expect, it } from 'vitest'
import { memoryAdapter } from '../src/index.js'

describe('memory lock: ttlMs', () => {
  it('refuses a ttlMs that is not a finite number > 0 with a typed error, taking nothing', async () => {
    const { lock } = memoryAdapter()
    for (const bad of [Number.NaN, 0, -5, Number.POSITIVE_INFINITY]) {
      await expect(lock.acquire('p/e', 'leader', 'a', bad)).rejects.toBeInstanceOf(OqronConfigError)
    }
    // Before: acquire(NaN) stored expiresAt NaN, which never compares as live, so a second owner took it too.
    const token = await lock.acquire('p/e', 'leader', 'a', 10_000)
    expect(token).not.toBeNull()
    await expect(lock.renew('p/e', 'leader', token!, Number.NaN)).rejects.toBeInstanceOf(OqronConfigError)
    expect(await lock.isOwner('p/e', 'leader', token!)).toBe(true)
    expect(await lock.acquire('p/e', 'leader', 'b', 10_000)).toBeNull()
  })
})
