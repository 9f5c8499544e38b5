import { OqronConfigError } from './errors.js'
import type { AddOutcome, DisabledBehavior, JobRecord, NewJob } from './job.js'
import { newJobId } from './job-id.js'
import { assertSerializable } from './serialize.js'

export const NAME_RE = /^[A-Za-z0-9_.:-]{1,128}$/

export interface EnqueueOptions {
  /** Idempotency key: a second add with the same id returns the first job. @default a new time-ordered UUID (version 7) */
  jobId?: string
  /** ms before the job becomes due. @default 0 */
  delay?: number
  /** Higher runs first. @default 0 */
  priority?: number
  /** Take this job before older ones of its priority. @default false */
  lifo?: boolean
  /** Total runs allowed (overrides retries.max + 1). */
  attempts?: number
  /**
   * Enqueue inside your own database transaction (a postgres.js `tx`): the job exists if and only if it
   * commits. Only adapters that support it accept it (`@oqronkit/postgres`); others throw OqronConfigError.
   */
  tx?: unknown
}

export interface EnqueueDefaults {
  maxAttempts: number
  guaranteed: boolean
  disabledBehavior: DisabledBehavior
}

/** What `add()` returns: the job id, what happened, and the stored record (null when skipped). */
export interface AddedJob<Data = unknown, Result = unknown> {
  id: string
  outcome: AddOutcome
  job: JobRecord<Data, Result> | null
}

export function assertName(kind: string, name: unknown): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new OqronConfigError(
      `${kind} name must be 1-128 characters of letters, digits, _ . : -, got ${JSON.stringify(name)}.`,
      {
        field: 'name',
      },
    )
  }
}

export function toNewJob(
  queue: string,
  data: unknown,
  options: EnqueueOptions,
  defaults: EnqueueDefaults,
  index: number | null,
): NewJob {
  const at = index === null ? 'data' : `[${index}].data`
  if (options === null || typeof options !== 'object')
    throw new OqronConfigError('add() options must be an object.')
  const { jobId, delay = 0, priority = 0, lifo = false, attempts } = options
  if (jobId !== undefined && (typeof jobId !== 'string' || jobId.length === 0 || jobId.length > 255)) {
    throw new OqronConfigError('jobId must be a non-empty string of at most 255 characters.', {
      field: 'jobId',
    })
  }
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new OqronConfigError('delay must be a non-negative number of ms.', { field: 'delay' })
  }
  if (!Number.isInteger(priority))
    throw new OqronConfigError('priority must be an integer.', { field: 'priority' })
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 1)) {
    throw new OqronConfigError('attempts must be a positive integer.', { field: 'attempts' })
  }
  assertSerializable(data, at)
  return {
    id: jobId ?? newJobId(),
    queue,
    data: data === undefined ? null : data,
    delayMs: Math.round(delay),
    priority,
    lifo: lifo === true,
    maxAttempts: attempts ?? defaults.maxAttempts,
    guaranteed: defaults.guaranteed,
    disabledBehavior: defaults.disabledBehavior,
    ...(jobId === undefined ? { idGenerated: true } : {}),
  }
}
