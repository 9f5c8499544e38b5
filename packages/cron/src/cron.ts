import {
  OqronConfigError,
  OqronKit,
  type OqronRuntime,
  resolveWorkOptions,
  type WorkOptions,
} from '@oqronkit/core'
import {
  checkHandler,
  enqueueDefaults,
  type FireHandler,
  fireHandler,
  fireWorkDefaults,
  type RecurrenceOptions,
  resolveRecurrence,
} from './common.js'
import { RecurringScheduler, type TickResult } from './scheduler.js'
import { cronSource, everySource, type FireSource, parseEvery } from './sources.js'

export interface CronOptions<Payload = unknown, Result = unknown> extends WorkOptions, RecurrenceOptions {
  /** Unique per runtime. The fires run on the queue `cron:<name>`. */
  name: string
  /** A cron expression with an optional seconds field (croner), e.g. `'0 0 1 * *'`. Either this or `every`. */
  expression?: string
  /** A fixed interval: ms or `'30s'`, `'5m'`...; fires at multiples of it since the epoch. Either this or `expression`. */
  every?: number | string
  /** IANA time zone of `expression`; DST is croner's. @default the process's zone */
  timezone?: string
  /** Passed to every fire as `ctx.payload`. */
  payload?: Payload
  handler: FireHandler<Payload, Result>
  /** @default OqronKit */
  runtime?: OqronRuntime
}

export interface CronHandle {
  readonly name: string
  /** The engine queue the fires run on. */
  readonly queue: string
  /** The next fire time after now (or after `from`). */
  nextRun(from?: Date): Date | null
  /** Run one scheduling pass now (it also runs by itself at every fire time). */
  tick(): Promise<TickResult>
  /** Whether this runtime currently holds the leader lock. */
  readonly isLeader: boolean
}

/**
 * A recurring job. Each fire becomes a job with id `cron:<name>:<fire time ISO>` in the core engine, so
 * retries, progress, cancellation, retention and disabled behaviour are the engine's, and idempotent add
 * makes each fire exactly-once across a cluster. `guaranteedWorker` is false unless set (the seed's table).
 */
export function cron<Payload = unknown, Result = unknown>(options: CronOptions<Payload, Result>): CronHandle {
  if (!options || typeof options !== 'object') throw new OqronConfigError('cron() takes an options object.')
  const runtime = options.runtime ?? OqronKit
  const where = `cron "${String(options.name)}"`
  checkHandler(where, options.handler)
  if ((options.expression === undefined) === (options.every === undefined)) {
    throw new OqronConfigError(`${where}: give exactly one of expression or every.`, {
      field: options.expression === undefined ? `${where}.expression` : `${where}.every`,
    })
  }
  if (options.every !== undefined && options.timezone !== undefined) {
    throw new OqronConfigError(`${where}.timezone only applies to expression, not every.`, {
      field: `${where}.timezone`,
    })
  }
  const source: FireSource =
    options.expression !== undefined
      ? cronSource(options.expression, options.timezone, where)
      : everySource(parseEvery(options.every, `${where}.every`))
  const recurrence = resolveRecurrence(where, options)
  const work = resolveWorkOptions(where, options, fireWorkDefaults, (m) => console.warn(`[oqronkit] ${m}`))
  const queue = `cron:${options.name}`
  runtime.define({
    kind: 'cron',
    name: options.name,
    queue,
    consumer: { handler: fireHandler(options.handler), options: work },
  })
  const scheduler = new RecurringScheduler(runtime, {
    kind: 'cron',
    name: options.name,
    queue,
    source,
    ...recurrence,
    payload: options.payload ?? null,
    defaults: enqueueDefaults(work),
  })
  runtime.onStart((config) => scheduler.start(config))
  runtime.onStop(() => scheduler.stop())
  return {
    name: options.name,
    queue,
    nextRun: (from) => {
      const t = source.next((from ?? new Date()).getTime())
      return t === null ? null : new Date(t)
    },
    tick: () => scheduler.tick(),
    get isLeader() {
      return scheduler.isLeader
    },
  }
}
