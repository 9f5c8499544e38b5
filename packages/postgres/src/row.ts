import type { JobError, JobRecord, JobStatus, TimelineEntry } from '@oqronkit/core'

/**
 * The JobRecord columns of alias `j`, in the order `toJob` reads them. Rows are read with `.values()`
 * (positional), so a client created with a column-name transform (e.g. `postgres.camel`) still works.
 * Times come back as float8 milliseconds from the server's clock (`ms()`), not as driver-parsed dates.
 */
export const JOB_COLUMNS = [
  'j.id',
  'j.queue',
  'j.status',
  'j.data',
  'j.result',
  'j.error',
  'j.attempts',
  'j.max_attempts',
  'j.stalled_count',
  'j.progress',
  'j.progress_label',
  'j.priority',
  'j.lifo',
  'j.guaranteed',
  'j.worker_id',
  'j.token',
  '{{schema}}.ms(j.lock_expires_at)',
  '{{schema}}.ms(j.created_at)',
  '{{schema}}.ms(j.started_at)',
  '{{schema}}.ms(j.finished_at)',
  '{{schema}}.ms(j.run_at)',
  'j.timeline',
].join(', ')

/** Number of columns `JOB_COLUMNS` yields; extra columns of a statement follow them. */
export const JOB_WIDTH = 22

export type Row = readonly unknown[]

export function toJob(r: Row): JobRecord {
  return {
    id: r[0] as string,
    queue: r[1] as string,
    status: r[2] as JobStatus,
    data: r[3] ?? null,
    result: r[4] ?? null,
    error: (r[5] as JobError | null) ?? null,
    attempts: r[6] as number,
    maxAttempts: r[7] as number,
    stalledCount: r[8] as number,
    progress: r[9] as number,
    progressLabel: (r[10] as string | null) ?? null,
    priority: r[11] as number,
    lifo: r[12] as boolean,
    guaranteed: r[13] as boolean,
    workerId: (r[14] as string | null) ?? null,
    token: (r[15] as string | null) ?? null,
    lockExpiresAt: (r[16] as number | null) ?? null,
    createdAt: r[17] as number,
    startedAt: (r[18] as number | null) ?? null,
    finishedAt: (r[19] as number | null) ?? null,
    runAt: r[20] as number,
    timeline: (r[21] as TimelineEntry[] | null) ?? [],
  }
}
