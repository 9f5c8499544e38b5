import { randomUUID } from 'node:crypto'
import { assertDurationMs, type LockAdapter, OqronConfigError } from '@oqronkit/core'
import { type Backend, guard } from './backend.js'

/**
 * The longest TTL taken: a whole number of ms Redis' PEXPIRE accepts (past about 9.2e18 ms, or written in
 * exponent form as JavaScript writes numbers from 1e21, it answers "not an integer or out of range").
 */
const MAX_TTL_MS = Number.MAX_SAFE_INTEGER

function ttl(ttlMs: number): number {
  assertDurationMs(ttlMs, 'Lock ttlMs', 'ttlMs')
  // Checked here: lock-acquire-1.lua writes the lock before its PEXPIRE, so a refused expiry would leave a
  // lock that never expires and that no token holds.
  if (ttlMs > MAX_TTL_MS) {
    throw new OqronConfigError(`Lock ttlMs must be at most ${MAX_TTL_MS} ms, got ${ttlMs}.`, {
      field: 'ttlMs',
    })
  }
  return Math.ceil(ttlMs)
}

/** TTL locks: a hash `{ token, owner }` whose PEXPIRE is the lease, judged by Redis' clock. */
export class RedisLock implements LockAdapter {
  constructor(private readonly b: Backend) {}

  async acquire(ns: string, key: string, owner: string, ttlMs: number): Promise<string | null> {
    const ms = ttl(ttlMs)
    const token = randomUUID()
    return guard('lock acquire', async () =>
      (await this.b.run('lockAcquire', [this.b.ns(ns).lock(key)], [token, owner, ms])) === 1 ? token : null,
    )
  }

  async renew(ns: string, key: string, token: string, ttlMs: number): Promise<boolean> {
    const ms = ttl(ttlMs)
    return guard(
      'lock renew',
      async () => (await this.b.run('lockRenew', [this.b.ns(ns).lock(key)], [token, ms])) === 1,
    )
  }

  async release(ns: string, key: string, token: string): Promise<boolean> {
    return guard(
      'lock release',
      async () => (await this.b.run('lockRelease', [this.b.ns(ns).lock(key)], [token])) === 1,
    )
  }

  async isOwner(ns: string, key: string, token: string): Promise<boolean> {
    return guard(
      'lock isOwner',
      async () => (await this.b.client.hget(this.b.ns(ns).lock(key), 'token')) === token,
    )
  }
}
