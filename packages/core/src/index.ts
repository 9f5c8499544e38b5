export { Batcher } from './batcher.js'
export * from './contracts.js'
export { QueueConsumer } from './engine/consumer.js'
export { HeartbeatWorker } from './engine/heartbeat.js'
export { JobRun, toJobError } from './engine/run-job.js'
export { StallDetector } from './engine/stall-detector.js'
export type {
  ConsumerDefinition,
  EngineContext,
  JobContext,
  JobHandler,
  Logger,
  LogLevel,
} from './engine/types.js'
export type { AddedJob, EnqueueDefaults, EnqueueOptions } from './enqueue.js'
export * from './errors.js'
export * from './events.js'
export * from './job.js'
export * from './manager.js'
export * from './module.js'
export * from './options.js'
export * from './runtime.js'
export * from './serialize.js'
export * from './timers.js'
