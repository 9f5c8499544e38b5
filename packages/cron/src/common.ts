import {
  type EnqueueDefaults,
  type JobContext,
  type JobHandler,
  OqronConfigError,
  type ResolvedWorkOptions,
  type WorkOptions,
} from '@oqronkit/core'
import type { MissedFire, Overlap } from './scheduler.js'

/** The data of every fire job. */
export interface FireData<Payload = unknown> {
  /** The nominal fire time (ISO), the same on every node; part of the job id. */
  fireAt: string
  payload: Payload | null
}

/** What a cron or schedule handler gets: the engine's context plus the fire time and payload. */
export interface FireContext<Payload = unknown> extends JobContext<FireData<Payload>> {
  readonly fireAt: Date
  readonly payload: Payload | null
}

export type FireHandler<Payload = unknown, Result = unknown> = (
  ctx: FireContext<Payload>,
) => Promise<Result> | Result

/** Options of recurring fires shared by cron() and schedule({ every }). */
export interface RecurrenceOptions {
  /** What to do with fires that came due while no node was running. @default 'skip' */
  missedFire?: MissedFire
  /** With `missedFire: 'run-all'`, run at most this many of the latest missed fires. @default 10 */
  maxMissedRuns?: number
  /** `skip`: drop a fire while the previous one is still waiting or running. @default 'skip' */
  overlap?: Overlap
  /** Delay each fire's job by a random 0..jitterMs, to spread load. The job id keeps the nominal time. @default 0 */
  jitterMs?: number
  /** A fire later than this when a leader sees it counts as missed (downtime), not as due. @default 20000 */
  misfireGraceMs?: number
  /** TTL of the leader lock; followers take over within it when a leader dies. @default 10000 */
  leaderTtlMs?: number
}

export const recurrenceDefaults = {
  missedFire: 'skip',
  maxMissedRuns: 10,
  overlap: 'skip',
  jitterMs: 0,
  misfireGraceMs: 20_000,
  leaderTtlMs: 10_000,
} satisfies Required<RecurrenceOptions>

/** The seed's table: cron and schedule are at-most-once unless `guaranteedWorker: true`. */
export const fireWorkDefaults = { guaranteedWorker: false } satisfies Partial<WorkOptions>

export function resolveRecurrence(where: string, options: RecurrenceOptions): Required<RecurrenceOptions> {
  const r = { ...recurrenceDefaults }
  for (const [k, v] of Object.entries(options))
    if (v !== undefined && k in r) (r as Record<string, unknown>)[k] = v
  if (!['skip', 'run-once', 'run-all'].includes(r.missedFire)) {
    throw new OqronConfigError(`${where}.missedFire must be 'skip', 'run-once' or 'run-all'.`, {
      field: `${where}.missedFire`,
    })
  }
  if (!['skip', 'run'].includes(r.overlap)) {
    throw new OqronConfigError(`${where}.overlap must be 'skip' or 'run'.`, { field: `${where}.overlap` })
  }
  for (const key of ['maxMissedRuns', 'jitterMs', 'misfireGraceMs', 'leaderTtlMs'] as const) {
    const v = r[key]
    if (!Number.isInteger(v) || v < (key === 'jitterMs' ? 0 : 1)) {
      throw new OqronConfigError(
        `${where}.${key} must be a ${key === 'jitterMs' ? 'non-negative' : 'positive'} integer.`,
        {
          field: `${where}.${key}`,
        },
      )
    }
  }
  return r
}

export function enqueueDefaults(options: ResolvedWorkOptions): EnqueueDefaults {
  return {
    maxAttempts: options.retries.max + 1,
    guaranteed: options.guaranteedWorker,
    disabledBehavior: options.disabledBehavior,
  }
}

/** Wraps a fire handler so it sees `ctx.fireAt` and `ctx.payload`. */
export function fireHandler(handler: FireHandler<any, any>): JobHandler<FireData> {
  return (ctx) =>
    handler(
      Object.assign(ctx, {
        fireAt: new Date(ctx.data?.fireAt ?? Date.now()),
        payload: ctx.data?.payload ?? null,
      }),
    )
}

export function checkHandler(where: string, handler: unknown): void {
  if (typeof handler !== 'function') {
    throw new OqronConfigError(`${where}.handler must be a function (ctx) => result.`, {
      field: `${where}.handler`,
    })
  }
}
