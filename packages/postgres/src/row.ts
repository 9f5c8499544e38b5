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

/**
 * The columns of a claimed row (alias `j` and the claim's once-per-statement values `p`; see `claimedColumns`):
 * only what differs from row to row, and of that only what a job that never ran yet does not have alike.
 * What is the same for every job of one claim statement is not sent per row but filled in by `toClaimedJobs`:
 * the queue, status `active`, the worker, `finishedAt` null, an empty timeline (the contract lets a claim
 * return `[]`; the engine never reads a claimed job's timeline, `getJob` returns it in full), and the token
 * (the statement's prefix and the job's lane `ord` or id). The lease's expiry and `startedAt` are the same for
 * all rows too (`now()` is the transaction's): computed once (`p.started`, `p.expires`) and sent on one row
 * only (`p.first`), null on the others. Result, error, attempt, stall count, progress, label, priority and
 * LIFO come as one JSON array (`extra`), and as null when they are what a job claimed for the first time has
 * (null, null, 1, 0, 0, null, 0, false) — every lane job, most jobs. Null columns cost the client nothing to
 * decode: a claimed lane job is 7 values (id, data, attempts allowed, guarantee, created and due times, `ord`)
 * instead of 19 (~3.5 µs of Node's time per claimed job went to decoding those in the drain; a JSON array
 * per row built on the server cost it as much more, see docs/postgres.md).
 */
export function claimedColumns(
  order: { grp: string; k: string; ord: string },
  lane?: { guaranteed: string },
): string {
  const attempts = lane ? 'j.attempts + 1' : 'j.attempts'
  const guaranteed = lane ? `coalesce(${lane.guaranteed}, j.guaranteed)` : 'j.guaranteed'
  return `j.id, j.data, j.max_attempts, ${guaranteed}, {{schema}}.ms(j.created_at), {{schema}}.ms(j.run_at),
    case when j.id = p.first then p.started end, case when j.id = p.first then p.expires end,
    ${order.grp}, ${order.k}, ${order.ord},
    case when j.result is null and j.error is null and ${attempts} = 1 and j.stalled_count = 0
      and j.progress = 0 and j.progress_label is null and j.priority = 0 and not j.lifo then null
      else json_build_array(j.result, j.error, ${attempts}, j.stalled_count, j.progress, j.progress_label,
        j.priority, j.lifo)::text end`
}

/**
 * The claim lane's advisory lock of queue `queue` of namespace $1 (migration 000004): adds that create lane
 * jobs hold it shared until they commit, a lane claim exclusively, taken in a statement of its own before the
 * claim's (CLAIM_ROUTINE), so the claim's snapshot sees every lane job whose `ord` it could move past.
 */
export function laneKey(queue: string): string {
  return `1903520622, hashtext($1::text || chr(31) || ${queue})`
}

/** What one claim statement's rows share (see claimedColumns). */
export interface ClaimContext {
  queue: string
  workerId: string
  /** The tokens' prefix; a row claim's token is this, `R` and the job's id, a lane job's `L` and its `ord`. */
  tokenPrefix: string
}

/** `extra` of a claimed row (see claimedColumns) when null: a job claimed for the first time. */
const FIRST_CLAIM = [null, null, 1, 0, 0, null, 0, false] as const

/** A claimed row (claimedColumns) with its `extra` parsed and its order key filled in for a lane job. */
interface Claimed {
  row: Row
  /** result, error, attempts, stalled count, progress, label, priority, LIFO */
  extra: readonly unknown[]
  grp: number
  k: number
}

/** Delivery order of claimed rows: priority (highest first), then the claim's order key (`grp`, `k`). */
function byDelivery(a: Claimed, b: Claimed): number {
  return (b.extra[6] as number) - (a.extra[6] as number) || a.grp - b.grp || a.k - b.k
}

/**
 * The claimed rows (claimedColumns) as the JobRecords the claim made, in delivery order; the start and the
 * lease's expiry come from the one row that carries them.
 */
export function toClaimedJobs(rows: Row[], c: ClaimContext): JobRecord[] {
  const claimed = rows.map((row): Claimed => {
    const ord = row[10] as number | null // a lane job's; its order key is (1, ord)
    return {
      row,
      extra: row[11] === null ? FIRST_CLAIM : (JSON.parse(row[11] as string) as unknown[]),
      grp: ord === null ? (row[8] as number) : 1,
      k: ord === null ? (row[9] as number) : Number(ord),
    }
  })
  if (claimed.length > 1) claimed.sort(byDelivery)
  const first = rows.find((r) => r[6] !== null)
  const startedAt = first?.[6] as number
  const lockExpiresAt = first?.[7] as number
  return claimed.map(({ row: r, extra: x }) => {
    const ord = r[10]
    // data … guaranteed, in record()'s order
    const fields = [r[1], x[0], x[1], x[2], r[2], x[3], x[4], x[5], x[6], x[7], r[3]]
    return record(
      fields,
      0,
      r[0] as string, // id
      c.queue,
      'active',
      c.workerId,
      ord !== null ? `${c.tokenPrefix}L${ord}` : `${c.tokenPrefix}R${r[0]}`, // token
      lockExpiresAt,
      r[4] as number, // createdAt
      startedAt,
      null, // finishedAt
      r[5] as number, // runAt
      [], // timeline
    )
  })
}

/**
 * The timeline of row `j` with `entry` (an SQL expression) appended after the pending `active` entry of the
 * current attempt, if a claim left one (`tl_active`), trimmed to TIMELINE_LIMIT. A statement that sets
 * `timeline = push(...)` also sets `tl_active = false`.
 */
export function push(entry: string): string {
  return `{{schema}}.tl_push(j.timeline, j.tl_active, j.started_at, j.worker_id, j.attempts, ${entry}, {{lim}})`
}

/**
 * What an add returns per inserted row (alias `j`): the id, the queue, the status the insert chose (waiting,
 * delayed or paused) and the due time. ADD and ADD_ONE follow them with the statement's `now()` in ms, which
 * is each row's `created_at` and the `at` of its `added` (and `held`) entries. Everything else of a new record
 * is what the caller sent or the same for every new job, so `toAddedJob` fills it in: the server does not
 * send each job's data back, nor build its timeline twice.
 */
export const ADDED_COLUMNS = 'j.id, j.queue, j.status, {{schema}}.ms(j.run_at) as run_at'

/**
 * What ADD takes for a field its input leaves out: the adapter sends `delayMs` … `behavior` only where they
 * differ (ADD's `coalesce`s put them back), which takes a bulk of jobs with default options from ~170 to ~80
 * bytes of JSON per job, all of which the server parses (a 1,000-job add 22.3 → 19.5 ms, statement alone).
 */
export const ADD_DEFAULTS = {
  delayMs: 0,
  priority: 0,
  lifo: false,
  maxAttempts: 1,
  guaranteed: true,
  behavior: 'hold',
} as const

/** The detail of the `held` entry of a job added to a disabled queue (ADD writes it, toAddedJob repeats it). */
export const HELD_DETAIL = 'module disabled'

/** The stored form of a new job as the adapter sends it to ADD (data as JSON gives it back). */
export interface AddedFields {
  data: unknown
  priority: number
  lifo: boolean
  maxAttempts: number
  guaranteed: boolean
}

/**
 * An added row (ADDED_COLUMNS, then the statement's time) as the JobRecord the add stored, from `f`, the
 * fields it was sent. The timeline is the add's: `added`, and `held` when the job was stored paused because
 * its queue is disabled (the `addedTimeline()` of ADD).
 */
export function toAddedJob(r: Row, f: AddedFields): JobRecord {
  const at = r[4] as number
  const status = r[2] as JobStatus
  const timeline: TimelineEntry[] = [{ at, event: 'added' }]
  if (status === 'paused') timeline.push({ at, event: 'held', detail: HELD_DETAIL })
  // A new job's data … guaranteed, as `record()` reads them from a row: what was sent, counters at zero.
  const sentFields = [f.data, null, null, 0, f.maxAttempts, 0, 0, null, f.priority, f.lifo, f.guaranteed]
  return record(
    sentFields,
    0,
    r[0] as string, // id
    r[1] as string, // queue
    status,
    null, // workerId
    null, // token
    null, // lockExpiresAt
    at, // createdAt
    null, // startedAt
    null, // finishedAt
    r[3] as number, // runAt
    timeline,
  )
}

/** Number of columns `JOB_COLUMNS` yields; extra columns of a statement follow them. */
export const JOB_WIDTH = 22

export type Row = readonly unknown[]

export function toJob(r: Row): JobRecord {
  return record(
    r,
    3, // data … guaranteed
    r[0] as string, // id
    r[1] as string, // queue
    r[2] as JobStatus,
    (r[14] as string | null) ?? null, // workerId
    (r[15] as string | null) ?? null, // token
    (r[16] as number | null) ?? null, // lockExpiresAt
    r[17] as number, // createdAt
    (r[18] as number | null) ?? null, // startedAt
    (r[19] as number | null) ?? null, // finishedAt
    r[20] as number, // runAt
    (r[21] as TimelineEntry[] | null) ?? [], // timeline
  )
}

/**
 * The one place a JobRecord is put together from a row (toJob, toClaimedJobs, toAddedJob): the fields every
 * row layout reads alike — data, result, error, attempts, maxAttempts, stalledCount, progress, progressLabel,
 * priority, lifo, guaranteed, eleven columns in that order from `at` — and the others as given. Always the
 * same property order, so every record has one shape.
 */
function record(
  r: Row,
  at: number,
  id: string,
  queue: string,
  status: JobStatus,
  workerId: string | null,
  token: string | null,
  lockExpiresAt: number | null,
  createdAt: number,
  startedAt: number | null,
  finishedAt: number | null,
  runAt: number,
  timeline: TimelineEntry[],
): JobRecord {
  return {
    id,
    queue,
    status,
    data: r[at] ?? null,
    result: r[at + 1] ?? null,
    error: (r[at + 2] as JobError | null) ?? null,
    attempts: r[at + 3] as number,
    maxAttempts: r[at + 4] as number,
    stalledCount: r[at + 5] as number,
    progress: r[at + 6] as number,
    progressLabel: (r[at + 7] as string | null) ?? null,
    priority: r[at + 8] as number,
    lifo: r[at + 9] as boolean,
    guaranteed: r[at + 10] as boolean,
    workerId,
    token,
    lockExpiresAt,
    createdAt,
    startedAt,
    finishedAt,
    runAt,
    timeline,
  }
}
