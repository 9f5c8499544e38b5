import { assertDurationMs, type LockAdapter } from '@oqronkit/core'
import type { MemoryStore } from './store.js'

export class MemoryLock implements LockAdapter {
  constructor(private readonly store: MemoryStore) {}

  async acquire(ns: string, key: string, owner: string, ttlMs: number): Promise<string | null> {
    assertDurationMs(ttlMs, 'Lock acquire ttlMs', 'ttlMs')
    const locks = this.store.ns(ns).locks
    const now = this.store.now()
    const held = locks.get(key)
    if (held && held.expiresAt > now) return null
    const token = this.store.newToken()
    locks.set(key, { token, owner, expiresAt: now + ttlMs })
    return token
  }

  async renew(ns: string, key: string, token: string, ttlMs: number): Promise<boolean> {
    assertDurationMs(ttlMs, 'Lock renew ttlMs', 'ttlMs')
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
