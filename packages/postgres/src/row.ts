import type { JobError, JobRecord, JobStatus, TimelineEntry } from '@oqronkit/core'

/**
 * The JobRecord columns of alias `j` but the timeline, in the order `toJob` reads them. Rows are read with
 * `.values()` (positional), so a client created with a column-name transform (e.g. `postgres.camel`) still
 * works. Times come back as float8 milliseconds from the server's clock (`ms()`), not as driver-parsed dates.
 */
const RECORD_COLUMNS = [
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
]

/**
 * The JobRecord columns of alias `j` (`{{job}}`), the timeline last: as stored, plus the current attempt's
 * `active` entry while `tl_active` says a claim left it out (see migration 000003).
 */
export const JOB_COLUMNS = [
  ...RECORD_COLUMNS,
  '{{schema}}.timeline_of(j.timeline, j.tl_active, j.started_at, j.worker_id, j.attempts, {{lim}})',
].join(', ')

/** RECORD_COLUMNS that one claim statement sets alike on every row it claims (see CLAIMED_COLUMNS). */
const SAME_FOR_THE_CLAIM = new Set([
  'j.queue',
  'j.status',
  'j.worker_id',
  'j.token',
  '{{schema}}.ms(j.lock_expires_at)',
  '{{schema}}.ms(j.started_at)',
  '{{schema}}.ms(j.finished_at)',
])

/**
 * The columns of a claimed row (`{{claimed}}`, alias `j` and the claim's once-per-statement values `p`):
 * only what differs from row to row. What is the same for every job of one claim statement is not sent per
 * row but filled in by `toClaimedJob`: the queue, status `active`, the worker, `finishedAt` null, an empty
 * timeline (the contract lets a claim return `[]`; the engine never reads a claimed job's timeline, `getJob`
 * returns it in full), and the token, which is the statement's prefix and the row's position. The lease's
 * expiry and `startedAt` are the same for all rows too (`now()` is the transaction's), computed once
 * (`p.started`, `p.expires`). A claim of 500 sends about a third fewer bytes and decodes fewer columns.
 */
export const CLAIMED_COLUMNS = [
  ...RECORD_COLUMNS.filter((column) => !SAME_FOR_THE_CLAIM.has(column)),
  'p.started',
  'p.expires',
].join(', ')

/** Number of columns `CLAIMED_COLUMNS` yields; the row's position in the claim follows them. */
export const CLAIMED_WIDTH = 16

/** What one claim statement's rows share (see CLAIMED_COLUMNS). */
export interface ClaimContext {
  queue: string
  workerId: string
  /** The tokens' prefix; a row's token is this and its position. */
  tokenPrefix: string
}

/** A claimed row (CLAIMED_COLUMNS, then its position) as the JobRecord the claim made. */
export function toClaimedJob(r: Row, c: ClaimContext): JobRecord {
  return {
    id: r[0] as string,
    queue: c.queue,
    status: 'active',
    data: r[1] ?? null,
    result: r[2] ?? null,
    error: (r[3] as JobError | null) ?? null,
    attempts: r[4] as number,
    maxAttempts: r[5] as number,
    stalledCount: r[6] as number,
    progress: r[7] as number,
    progressLabel: (r[8] as string | null) ?? null,
    priority: r[9] as number,
    lifo: r[10] as boolean,
    guaranteed: r[11] as boolean,
    workerId: c.workerId,
    token: c.tokenPrefix + (r[CLAIMED_WIDTH] as number),
    lockExpiresAt: r[15] as number,
    createdAt: r[12] as number,
    startedAt: r[14] as number,
    finishedAt: null,
    runAt: r[13] as number,
    timeline: [],
  }
}

/**
 * The timeline of row `j` with `entry` (an SQL expression) appended after the pending `active` entry of the
 * current attempt, if a claim left one (`tl_active`), trimmed to TIMELINE_LIMIT. A statement that sets
 * `timeline = push(...)` also sets `tl_active = false`.
 */
export function push(entry: string): string {
  return `{{schema}}.tl_push(j.timeline, j.tl_active, j.started_at, j.worker_id, j.attempts, ${entry}, {{lim}})`
}

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
