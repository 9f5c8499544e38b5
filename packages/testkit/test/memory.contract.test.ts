import { fileURLToPath } from 'node:url'
import { memoryAdapter } from '@oqronkit/memory'
import { runAdapterContract } from '@oqronkit/testkit'

runAdapterContract({
  name: 'memory',
  create: ({ clock }) => memoryAdapter({ clock: clock.now }),
  capabilities: { backendClock: 'controllable', completeAndClaim: true, removeOnComplete: true },
  // The child builds its own memory adapter: enough for the close check; memory is not shared across processes.
  process: {
    module: fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url)),
    export: 'memory',
    crossProcess: false,
  },
})
