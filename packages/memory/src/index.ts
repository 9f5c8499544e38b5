import type { OqronAdapters } from '@oqronkit/core'
import { MemoryBroker } from './broker.js'
import { MemoryLock } from './lock.js'
import { MemoryStorage } from './storage.js'
import { MemoryStore } from './store.js'

export interface MemoryAdapterOptions {
  /**
   * The backend clock: every lease, lock, delay and timeline time is read from it. Inject one in tests
   * to move time by hand.
   * @default Date.now
   */
  clock?: () => number
}

export const memoryAdapterDefaults = {
  clock: Date.now,
} satisfies Required<MemoryAdapterOptions>

/**
 * In-process Storage, Broker and Lock. Several runtimes in one process can share one instance and act as
 * several nodes. Nothing survives the process: use `@oqronkit/redis` or `@oqronkit/postgres` for that.
 */
export function memoryAdapter(options: MemoryAdapterOptions = {}): OqronAdapters & { now(): number } {
  const clock = options.clock ?? memoryAdapterDefaults.clock
  const store = new MemoryStore(clock)
  return {
    name: 'memory',
    storage: new MemoryStorage(store),
    broker: new MemoryBroker(store),
    lock: new MemoryLock(store),
    now: clock,
    async close() {
      // Release anyone parked in waitForWork so their timers are cleared at once.
      store.wakeAll()
    },
  }
}

export { MemoryBroker, MemoryLock, MemoryStorage, MemoryStore }
