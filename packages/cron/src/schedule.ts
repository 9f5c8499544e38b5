import { randomUUID } from 'node:crypto'
import {
  type AddedJob,
  OqronConfigError,
  OqronKit,
  OqronManager,
  type OqronRuntime,
  resolveWorkOptions,
  type WorkOptions,
} from '@oqronkit/core'
import {
  checkHandler,
  enqueueDefaults,
  type FireData,
  type FireHandler,
  fireHandler,
  fireWorkDefaults,
  type RecurrenceOptions,
  resolveRecurrence,
} from './common.js'
import { fireJobId, RecurringScheduler, type TickResult } from './scheduler.js'
import { everySource, parseEvery } from './sources.js'

export interface ScheduleOptions<Payload = unknown, Result = unknown> extends WorkOptions, RecurrenceOptions {
  /** Unique per runtime. The runs use the queue `schedule:<name>`. */
  name: string
  /** Run once at this time. With `every`, neither, or both: see `every`. */
  runAt?: Date | number | string
  /** Run repeatedly at this interval (ms or `'5m'`), aligned to the epoch. */
  every?: number | string
  /** Passed to each run as `ctx.payload`. */
  payload?: Payload
  handler: FireHandler<Payload, Result>
  /** @default OqronKit */
  runtime?: OqronRuntime
}

export interface ScheduleHandle<Payload = unknown> {
  readonly name: string
  readonly queue: string
  /** Run now, with `payload` (or the definition's). */
  trigger(payload?: Payload): Promise<AddedJob<FireData<Payload>>>
  /** Run once later: at `runAt`, or after `delay` ms. */
  schedule(options: {
    runAt?: Date | number | string
    delay?: number
    payload?: Payload
    jobId?: string
  }): Promise<AddedJob<FireData<Payload>>>
  /**
   * Cancel every run of this schedule that has not started (cancelled tombstones), and stop its recurrence
   * on every node. Returns how many jobs were cancelled. `trigger()` and `schedule()` still work afterwards.
   */
  cancel(): Promise<number>
  /** One scheduling pass of `every` now (no-op without `every`). */
  tick(): Promise<TickResult | null>
}

function toTime(value: unknown, field: string): number {
  const t = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value
  if (typeof t !== 'number' || !Number.isFinite(t)) {
    throw new OqronConfigError(`${field} must be a Date, an ISO string or ms since the epoch.`, { field })
  }
  return t
}

/**
 * A one-off (`runAt`) or interval (`every`) job, plus dynamic runs (`trigger`, `schedule`). A `runAt` in
 * the past is an error unless `missedFire` says what to do (`'skip'`: nothing, `'run-once'`/`'run-all'`: run
 * at once). `guaranteedWorker` is false unless set (the seed's table).
 */
export function schedule<Payload = unknown, Result = unknown>(
  options: ScheduleOptions<Payload, Result>,
): ScheduleHandle<Payload> {
  if (!options || typeof options !== 'object')
    throw new OqronConfigError('schedule() takes an options object.')
  const runtime = options.runtime ?? OqronKit
  const where = `schedule "${String(options.name)}"`
  checkHandler(where, options.handler)
  if (options.runAt !== undefined && options.every !== undefined) {
    throw new OqronConfigError(`${where}: give runAt or every, not both.`, { field: `${where}.every` })
  }
  const runAt = options.runAt === undefined ? null : toTime(options.runAt, `${where}.runAt`)
  if (runAt !== null && runAt < Date.now() && options.missedFire === undefined) {
    throw new OqronConfigError(
      `${where}.runAt (${new Date(runAt).toISOString()}) is in the past. Set missedFire: 'skip' to ignore it or 'run-once' to run it now.`,
      { field: `${where}.runAt` },
    )
  }
  const every = options.every === undefined ? null : parseEvery(options.every, `${where}.every`)
  const recurrence = resolveRecurrence(where, options)
  const work = resolveWorkOptions(where, options, fireWorkDefaults, (m) => console.warn(`[oqronkit] ${m}`))
  const queue = `schedule:${options.name}`
  const defaults = enqueueDefaults(work)
  runtime.define({
    kind: 'schedule',
    name: options.name,
    queue,
    consumer: { handler: fireHandler(options.handler), options: work },
  })
  const scheduler =
    every === null
      ? null
      : new RecurringScheduler(runtime, {
          kind: 'schedule',
          name: options.name,
          queue,
          source: everySource(every),
          ...recurrence,
          payload: options.payload ?? null,
          defaults,
        })
  const cancelledKey = `schedule:${options.name}:cancelled`
  const doneKey = `schedule:${options.name}:last`

  runtime.onStart(async (config) => {
    scheduler?.start(config)
    if (runAt === null) return
    const { storage } = config.adapters
    if ((await storage.getState<boolean>(config.ns, cancelledKey)) === true) return
    const last = await storage.getState<number>(config.ns, doneKey)
    if (last !== null && last >= runAt) return // already scheduled by an earlier start or another node
    const now = runtime.engineContext().now()
    if (runAt < now && recurrence.missedFire === 'skip') return
    await runtime.enqueue(
      queue,
      { fireAt: new Date(runAt).toISOString(), payload: options.payload ?? null },
      { jobId: fireJobId(queue, runAt), delay: Math.max(0, runAt - now) },
      defaults,
    )
    await storage.compareAndSetState(config.ns, doneKey, last, runAt)
  })
  if (scheduler) runtime.onStop(() => scheduler.stop())

  const add = (payload: Payload | undefined, delay: number, at: number, jobId?: string) =>
    runtime.enqueue(
      queue,
      { fireAt: new Date(at).toISOString(), payload: payload ?? options.payload ?? null },
      { jobId: jobId ?? `${queue}:run:${randomUUID()}`, delay },
      defaults,
    ) as Promise<AddedJob<FireData<Payload>>>

  return {
    name: options.name,
    queue,
    trigger: (payload) => {
      const now = runtime.engineContext().now()
      return add(payload, 0, now)
    },
    schedule: (opts) => {
      if (!opts || typeof opts !== 'object')
        throw new OqronConfigError('schedule() takes { runAt | delay, payload }.')
      if ((opts.runAt === undefined) === (opts.delay === undefined)) {
        throw new OqronConfigError('Give exactly one of runAt or delay.', { field: 'runAt' })
      }
      const now = runtime.engineContext().now()
      const at = opts.runAt !== undefined ? toTime(opts.runAt, 'runAt') : now + (opts.delay ?? 0)
      if (opts.delay !== undefined && (!Number.isFinite(opts.delay) || opts.delay < 0)) {
        throw new OqronConfigError('delay must be a non-negative number of ms.', { field: 'delay' })
      }
      return add(opts.payload, Math.max(0, at - now), at, opts.jobId)
    },
    cancel: async () => {
      const config = runtime.getConfig()
      await config.adapters.storage.setState(config.ns, cancelledKey, true)
      const mgr = OqronManager.from(config)
      let cancelled = 0
      for (const status of ['delayed', 'waiting', 'paused'] as const) {
        let cursor: string | null = null
        do {
          const page = await mgr.listJobs({ queue, status, limit: 500, cursor })
          for (const job of page.jobs) if (await mgr.cancelJob(job.id)) cancelled++
          cursor = page.cursor
        } while (cursor)
      }
      return cancelled
    },
    tick: async () => (scheduler ? scheduler.tick() : null),
  }
}
