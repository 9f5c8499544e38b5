import type { OqronAdapters } from '../contracts.js'
import type { TypedEmitter } from '../events.js'
import type { JobRecord } from '../job.js'
import type { ResolvedWorkOptions } from '../options.js'
import type { TimerHost } from '../timers.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** What a handler gets for one run of one job. */
export interface JobContext<Data = unknown> {
  readonly id: string
  readonly queue: string
  readonly data: Data
  /** Aborted on cancellation, on lease loss, and on shutdown past its timeout. `signal.reason` says which. */
  readonly signal: AbortSignal
  /** 1 on the first run, 2 on the first retry or recovery... */
  readonly attempt: number
  /** The record as it was claimed. */
  readonly job: JobRecord<Data>
  /** Record progress 0..100 (fenced by the lease). Never rejects; resolves false if the lease is gone. */
  progress(pct: number, label?: string): Promise<boolean>
  /** Append a line to the job's timeline (fenced by the lease). Never rejects. */
  log(level: LogLevel, message: string, meta?: Record<string, unknown>): Promise<boolean>
  /** Fail this run for good if it throws: no further retries. */
  discard(): void
}

export type JobHandler<Data = unknown, Result = unknown> = (ctx: JobContext<Data>) => Promise<Result> | Result

/** A consumer registered by a module: run `handler` for jobs of `queue`. */
export interface ConsumerDefinition {
  kind: string
  name: string
  queue: string
  handler: JobHandler<any, any>
  options: ResolvedWorkOptions
}

export interface Logger {
  debug(message: string, ...args: unknown[]): void
  info(message: string, ...args: unknown[]): void
  warn(message: string, ...args: unknown[]): void
  error(message: string, ...args: unknown[]): void
}

/** What the engine's parts need from a started runtime. */
export interface EngineContext {
  readonly adapters: OqronAdapters
  readonly ns: string
  readonly workerId: string
  readonly timers: TimerHost
  readonly events: TypedEmitter
  readonly logger: Logger
  /** Fallback wake-up of an idle consumer when no notification arrives. */
  readonly pollIntervalMs: number
  /** Counts fenced writes this runtime made that the backend rejected. */
  staleWrites: number
  /** Wall clock for schedules (not leases: those use the backend's clock). */
  readonly now: () => number
}
