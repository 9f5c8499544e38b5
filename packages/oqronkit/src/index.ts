import { OqronRuntime } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'

// `init()` without adapters runs on the in-process memory adapter: the demo and tests need no server.
OqronRuntime.setDefaultAdapters(() => memoryAdapter())

export * from '@oqronkit/core'
export * from '@oqronkit/cron'
export { type MemoryAdapterOptions, memoryAdapter } from '@oqronkit/memory'
export * from '@oqronkit/queue'
export * from '@oqronkit/webhook'
