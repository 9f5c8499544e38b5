import { OqronConfigError } from './errors.js'
import type { DisabledBehavior } from './job.js'
import { assertTimerMs } from './timer-limit.js'

export type RetryStrategy = 'fixed' | 'exponential'

export interface RetryOptions {
  /** Retries after the first run; total runs are `max + 1`. @default 3 */
  max?: number
  /** @default 'exponential' */
  strategy?: RetryStrategy
  /** Delay before the first retry, ms. @default 1000 */
  baseDelay?: number
  /** Upper bound of any retry delay, ms. @default 60000 */
  maxDelay?: number
  /** Random share taken off each delay (0 = none, 1 = full jitter), to spread retries of many jobs. @default 0.2 */
  jitter?: number
}

/** `true` removes at once, `false` keeps every job, a number keeps that many newest, or count and/or age (ms). */
export type RetentionOption = boolean | number | { count?: number; age?: number }

/** The options every job-running module shares (queue, worker, cron, schedule, webhook...). */
export interface WorkOptions {
  /**
   * Heartbeat lease and stall recovery (at-least-once). `false`: no heartbeat, at-most-once — a job whose
   * worker dies is failed as "worker lost" after `lockTtlMs`, never re-run. Default depends on the module.
   */
  guaranteedWorker?: boolean
  /** Lease renewal interval, ms. @default 5000 */
  heartbeatMs?: number
  /** Lease length, ms; a job whose lease is not renewed for this long is recovered. Must be > heartbeatMs. @default 30000 */
  lockTtlMs?: number
  /** Jobs of this definition run at once per runtime. @default 1 */
  concurrency?: number
  /**
   * Jobs claimed ahead of free slots, per runtime: up to `concurrency + prefetch` jobs are held at once, the
   * ones beyond `concurrency` waiting in memory for a slot, so claims go out in large batches (refilled when
   * half the buffer is used; while the queue is busy, two claims of half the buffer each may be on their way).
   * A prefetched job is claimed like a running one: leased, renewed by heartbeat, cancellable, given back
   * (`release`, attempt not counted) on shutdown, and recovered by the stall detector if this process dies.
   * For many short jobs; needs `guaranteedWorker: true`. @default 0
   */
  prefetch?: number
  retries?: RetryOptions
  /** Recoveries after which a job fails as poison instead of looping. @default 3 */
  maxStalledCount?: number
  /** How often this runtime scans for expired leases, ms. @default min(1000, heartbeatMs) */
  stallIntervalMs?: number
  /** @default { count: 1000 } */
  removeOnComplete?: RetentionOption
  /** @default { count: 10000 } */
  removeOnFail?: RetentionOption
  /** Retention of cancelled tombstones. @default { count: 10000 } */
  removeOnCancel?: RetentionOption
  /** What `add()` does while the module is disabled. @default 'hold' */
  disabledBehavior?: DisabledBehavior
}

export const retryDefaults = {
  max: 3,
  strategy: 'exponential',
  baseDelay: 1_000,
  maxDelay: 60_000,
  jitter: 0.2,
} satisfies Required<RetryOptions>

export const workDefaults = {
  guaranteedWorker: true,
  heartbeatMs: 5_000,
  lockTtlMs: 30_000,
  concurrency: 1,
  prefetch: 0,
  maxStalledCount: 3,
  removeOnComplete: { count: 1_000 },
  removeOnFail: { count: 10_000 },
  removeOnCancel: { count: 10_000 },
  disabledBehavior: 'hold',
} satisfies Omit<Required<WorkOptions>, 'retries' | 'stallIntervalMs'>

export interface Retention {
  keep: number | null
  maxAgeMs: number | null
}

export interface ResolvedWorkOptions {
  guaranteedWorker: boolean
  heartbeatMs: number
  lockTtlMs: number
  concurrency: number
  prefetch: number
  retries: Required<RetryOptions>
  maxStalledCount: number
  stallIntervalMs: number
  removeOnComplete: Retention
  removeOnFail: Retention
  removeOnCancel: Retention
  disabledBehavior: DisabledBehavior
}

function positiveInt(value: unknown, field: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new OqronConfigError(
      `${field} must be ${allowZero ? 'a non-negative' : 'a positive'} integer, got ${String(value)}.`,
      {
        field,
      },
    )
  }
  return value
}

function retention(value: RetentionOption, field: string): Retention {
  if (value === true) return { keep: 0, maxAgeMs: null }
  if (value === false) return { keep: null, maxAgeMs: null }
  if (typeof value === 'number') return { keep: positiveInt(value, field, true), maxAgeMs: null }
  if (value && typeof value === 'object') {
    return {
      keep: value.count === undefined ? null : positiveInt(value.count, `${field}.count`, true),
      maxAgeMs: value.age === undefined ? null : positiveInt(value.age, `${field}.age`, true),
    }
  }
  throw new OqronConfigError(`${field} must be a boolean, a count, or { count, age }.`, { field })
}

const warned = new Set<string>()

/**
 * Fills defaults and checks one definition's options. Throws `OqronConfigError` naming the field; warns
 * once per definition when `lockTtlMs` leaves less than three heartbeats of slack.
 */
export function resolveWorkOptions(
  where: string,
  options: WorkOptions,
  moduleDefaults: Partial<WorkOptions>,
  warn: (message: string) => void,
): ResolvedWorkOptions {
  const merged = { ...workDefaults, ...moduleDefaults, ...stripUndefined(options) }
  // Each is the delay of an engine timer (heartbeat interval, lease deadline, stall scan interval).
  const heartbeatMs = assertTimerMs(
    positiveInt(merged.heartbeatMs, `${where}.heartbeatMs`),
    `${where}.heartbeatMs`,
  )
  const lockTtlMs = assertTimerMs(positiveInt(merged.lockTtlMs, `${where}.lockTtlMs`), `${where}.lockTtlMs`)
  if (lockTtlMs <= heartbeatMs) {
    throw new OqronConfigError(
      `${where}: lockTtlMs (${lockTtlMs}) must be greater than heartbeatMs (${heartbeatMs}), or every lease expires before it is renewed. Use at least 3 × heartbeatMs.`,
      { field: `${where}.lockTtlMs` },
    )
  }
  if (lockTtlMs < 3 * heartbeatMs && !warned.has(where)) {
    warned.add(where)
    warn(
      `${where}: lockTtlMs (${lockTtlMs}) is under 3 × heartbeatMs (${heartbeatMs}); one slow renewal may let the job be recovered while it still runs.`,
    )
  }
  const given: unknown = options.retries
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    // Spread, a number or a string would vanish into the defaults: `retries: 5` would run with 3.
    throw new OqronConfigError(
      `${where}.retries must be an object such as { max: 3 } (no retries: { max: 0 }), got ${JSON.stringify(given)}.`,
      { field: `${where}.retries` },
    )
  }
  const retries = { ...retryDefaults, ...stripUndefined(options.retries ?? {}) }
  positiveInt(retries.max, `${where}.retries.max`, true)
  positiveInt(retries.baseDelay, `${where}.retries.baseDelay`, true)
  positiveInt(retries.maxDelay, `${where}.retries.maxDelay`, true)
  if (retries.strategy !== 'fixed' && retries.strategy !== 'exponential') {
    throw new OqronConfigError(`${where}.retries.strategy must be 'fixed' or 'exponential'.`, {
      field: `${where}.retries.strategy`,
    })
  }
  // Written as a range check NaN fails too: a NaN jitter would make every retry delay NaN.
  if (typeof retries.jitter !== 'number' || !(retries.jitter >= 0 && retries.jitter <= 1)) {
    throw new OqronConfigError(`${where}.retries.jitter must be between 0 and 1.`, {
      field: `${where}.retries.jitter`,
    })
  }
  const behavior = merged.disabledBehavior
  if (behavior !== 'hold' && behavior !== 'skip' && behavior !== 'reject') {
    throw new OqronConfigError(`${where}.disabledBehavior must be 'hold', 'skip' or 'reject'.`, {
      field: `${where}.disabledBehavior`,
    })
  }
  if (typeof merged.guaranteedWorker !== 'boolean') {
    throw new OqronConfigError(`${where}.guaranteedWorker must be true or false.`, {
      field: `${where}.guaranteedWorker`,
    })
  }
  const prefetch = positiveInt(merged.prefetch, `${where}.prefetch`, true)
  if (prefetch > 0 && !merged.guaranteedWorker) {
    throw new OqronConfigError(
      `${where}: prefetch (${prefetch}) needs guaranteedWorker: true. A prefetched job is claimed before it starts; without heartbeat leases a crash would fail it as "worker lost" although it never ran.`,
      { field: `${where}.prefetch` },
    )
  }
  return {
    guaranteedWorker: merged.guaranteedWorker,
    heartbeatMs,
    lockTtlMs,
    concurrency: positiveInt(merged.concurrency, `${where}.concurrency`),
    prefetch,
    retries,
    maxStalledCount: positiveInt(merged.maxStalledCount, `${where}.maxStalledCount`, true),
    stallIntervalMs: assertTimerMs(
      positiveInt(options.stallIntervalMs ?? Math.min(1_000, heartbeatMs), `${where}.stallIntervalMs`),
      `${where}.stallIntervalMs`,
    ),
    removeOnComplete: retention(merged.removeOnComplete, `${where}.removeOnComplete`),
    removeOnFail: retention(merged.removeOnFail, `${where}.removeOnFail`),
    removeOnCancel: retention(merged.removeOnCancel, `${where}.removeOnCancel`),
    disabledBehavior: behavior,
  }
}

export function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}

/** Delay before the next run after `attempt` failed runs (1-based), with jitter taken off. */
export function retryDelay(retries: Required<RetryOptions>, attempt: number, random = Math.random): number {
  const raw =
    retries.strategy === 'fixed'
      ? retries.baseDelay
      : retries.baseDelay * 2 ** Math.max(0, Math.min(attempt - 1, 30))
  const capped = Math.min(raw, retries.maxDelay)
  return Math.round(capped * (1 - retries.jitter * random()))
}
