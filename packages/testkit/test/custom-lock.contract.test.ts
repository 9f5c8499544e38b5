import { memoryAdapter } from '@oqronkit/memory'
import { runAdapterContract } from '@oqronkit/testkit'
import { MapLock } from './fixtures/map-lock.js'

// A mixed set: memory Storage and Broker, our own Lock. The whole contract runs, locks included.
runAdapterContract({
  name: 'memory + MapLock',
  create: ({ clock }) => ({
    ...memoryAdapter({ clock: clock.now }),
    name: 'memory+maplock',
    lock: new MapLock(clock.now),
  }),
  capabilities: { backendClock: 'controllable' },
})
