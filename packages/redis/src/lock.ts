import { randomUUID } from 'node:crypto'
import { assertDurationMs, type LockAdapter } from '@oqronkit/core'
import { type Backend, guard } from './backend.js'

function ttl(ttlMs: number): number {
  assertDurationMs(ttlMs, 'Lock ttlMs', 'ttlMs')
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
