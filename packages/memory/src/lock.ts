import { type LockAdapter, OqronConfigError } from '@oqronkit/core'
import type { MemoryStore } from './store.js'

/** A TTL the lock can judge: NaN never compares as expired nor live, so every acquire would take the lock. */
function checkTtl(operation: string, ttlMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new OqronConfigError(`Lock ${operation}: ttlMs must be a finite number > 0, got ${ttlMs}.`, {
      field: 'ttlMs',
    })
  }
}

export class MemoryLock implements LockAdapter {
  constructor(private readonly store: MemoryStore) {}

  async acquire(ns: string, key: string, owner: string, ttlMs: number): Promise<string | null> {
    checkTtl('acquire', ttlMs)
    const locks = this.store.ns(ns).locks
    const now = this.store.now()
    const held = locks.get(key)
    if (held && held.expiresAt > now) return null
    const token = this.store.newToken()
    locks.set(key, { token, owner, expiresAt: now + ttlMs })
    return token
  }

  async renew(ns: string, key: string, token: string, ttlMs: number): Promise<boolean> {
    checkTtl('renew', ttlMs)
    const held = this.live(ns, key, token)
    if (!held) return false
    held.expiresAt = this.store.now() + ttlMs
    return true
  }

  async release(ns: string, key: string, token: string): Promise<boolean> {
    if (!this.live(ns, key, token)) return false
    this.store.ns(ns).locks.delete(key)
    return true
  }

  async isOwner(ns: string, key: string, token: string): Promise<boolean> {
    return this.live(ns, key, token) !== undefined
  }

  private live(ns: string, key: string, token: string) {
    const held = this.store.ns(ns).locks.get(key)
    return held && held.token === token && held.expiresAt > this.store.now() ? held : undefined
  }
}
