/** Where a job is in its life. */
export type JobStatus =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'stalled'
  | 'paused'

export const JOB_STATUSES: readonly JobStatus[] = [
  'waiting',
  'delayed',
  'active',
  'completed',
  'failed',
  'cancelled',
  'stalled',
  'paused',
]

/** Statuses a job never leaves on its own (only `retryJob` moves it back). */
export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled'])

export type TimelineEvent =
  | 'added'
  | 'held'
  | 'delayed'
  | 'active'
  | 'progress'
  | 'log'
  | 'completed'
  | 'failed'
  | 'retrying'
  | 'stalled'
  | 'released'
  | 'cancelled'
  | 'retried'
  | 'resumed'
  | 'lease-lost'
  | 'worker-lost'

/** One line of a job's history. `at` is the backend's clock (ms since epoch). */
export interface TimelineEntry {
  at: number
  event: TimelineEvent
  workerId?: string
  detail?: string
}

/** Adapters keep at most this many timeline entries per job, dropping the oldest first. */
export const TIMELINE_LIMIT = 50

export interface JobError {
  name: string
  message: string
  stack?: string
}

/** The stored record of one job. Every adapter returns exactly this shape. */
export interface JobRecord<Data = unknown, Result = unknown> {
  id: string
  queue: string
  status: JobStatus
  data: Data
  result: Result | null
  error: JobError | null
  /** How many times a handler was started for this job (the current run included). */
  attempts: number
  /** Total runs allowed before the job fails for good (retries + 1). */
  maxAttempts: number
  /** How many times the stall detector recovered this job. */
  stalledCount: number
  progress: number
  progressLabel: string | null
  /** Higher runs first; equal priorities keep FIFO (or LIFO) order. */
  priority: number
  lifo: boolean
  /** true: heartbeat lease, redelivered after a crash. false: at-most-once, failed as "worker lost". */
  guaranteed: boolean
  workerId: string | null
  /** The live lease token; null when no worker holds the job. */
  token: string | null
  /** Backend time at which the live lease expires; null when no lease. */
  lockExpiresAt: number | null
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
  /** When the job becomes due (equals createdAt unless delayed or retried with backoff). */
  runAt: number
  timeline: TimelineEntry[]
}

/** What a producer hands to `Broker.add`. The adapter fills in timestamps, status and counters. */
export interface NewJob<Data = unknown> {
  id: string
  queue: string
  data: Data
  /** Delay in ms from the backend's now; 0 or absent means due at once. */
  delayMs: number
  priority: number
  lifo: boolean
  maxAttempts: number
  guaranteed: boolean
  /** What `add` does when the queue is disabled. */
  disabledBehavior: DisabledBehavior
  /**
   * True when the runtime made the id (no `jobId` given): a time-ordered random id no other add has used, so
   * an adapter may store it without a duplicate check first, as long as adding the very same job again still
   * answers `duplicate`. Absent or false: the caller chose the id, which may well exist already.
   */
  idGenerated?: boolean
}

export type DisabledBehavior = 'hold' | 'skip' | 'reject'

export type AddOutcome = 'created' | 'duplicate' | 'held' | 'skipped' | 'rejected'

export interface AddResult<Data = unknown, Result = unknown> {
  outcome: AddOutcome
  /** The stored job (the existing one for `duplicate`); null for `skipped` and `rejected`. */
  job: JobRecord<Data, Result> | null
}

/** Appends an entry and keeps the newest `TIMELINE_LIMIT` entries. Adapters may use it. */
export function pushTimeline(timeline: TimelineEntry[], entry: TimelineEntry): void {
  timeline.push(entry)
  if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT)
}
