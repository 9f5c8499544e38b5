export { FreezableTimers } from '@oqronkit/core'
export {
  ChildWorker,
  CrashHarness,
  type Interruption,
  runCloseCheckChild,
  type WaitForOptions,
} from './harness.js'
export type { ChildAdapterConfig, ChildWorkOptions, HarnessEvent, WorkerSpec } from './protocol.js'
