import { OqronConfigError } from './errors.js'
import type { AddResult, JobError, JobRecord, JobStatus, NewJob, TimelineEntry } from './job.js'

/** For adapters and the manager: throws `OqronConfigError` unless `limit` is a page size, an integer from 1 to 1000. */
export function assertPageLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new OqronConfigError(`listJobs limit must be an integer from 1 to 1000, got ${String(limit)}.`, {
      field: 'limit',
    })
  }
}

/**
 * For adapters: throws `OqronConfigError` (field `field`) unless `ms` is a finite number > 0, a lease or lock
 * length a backend can store and compare. NaN would make a lease that never counts as live nor as expired,
 * Infinity one the stall scan never recovers. Adapters check before writing anything.
 */
export function assertDurationMs(ms: number, what: string, field: string): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
    throw new OqronConfigError(`${what} must be a finite number of ms > 0, got ${String(ms)}.`, { field })
  }
}

/**
 * The three adapter contracts. Read `docs/adapters.md` before writing an adapter.
 *
 * Every method takes `ns`, the namespace of one `project`/`environment` pair: two namespaces never see
 * each other's jobs, locks or state. All times an adapter writes or compares (`createdAt`, `runAt`,
 * `lockExpiresAt`, timeline `at`) come from the backend's clock, never from the caller's `Date.now()`.
 *
 * "Atomic" below means: no other caller, in any process, can observe or interleave with a half-done
 * step. A Lua script, one SQL statement or transaction, or one synchronous step in memory qualify.
 */

/** What a lease renewal found. */
export type RenewOutcome = 'ok' | 'lost' | 'cancelled'

/** What a stall scan did to one job. */
export interface StallOutcome {
  job: JobRecord
  /** `requeued`: back to waiting. `failed`: over `maxStalledCount`, or an at-most-once job whose worker was lost. */
  action: 'requeued' | 'failed'
}

export interface ClaimRequest {
  workerId: string
  /** How many jobs at most; the free slots of the consumer. */
  limit: number
  /** Lease length in ms from the backend's now (`lockTtlMs`). */
  leaseMs: number
  /**
   * The consumer's `guaranteedWorker`. When given, the claim stores it on each claimed job (in the same
   * atomic step), so the stall detector treats the run as the consumer runs it: re-deliver (true) or fail
   * as "worker lost" (false). Absent: the job keeps the flag it was added with.
   */
  guaranteed?: boolean
}

/** The claim half of `completeAndClaim`. */
export interface NextClaim extends ClaimRequest {
  /**
   * The completed job's queue, which the claim is of. The engine passes it; an adapter may use it to batch
   * completions per queue without keeping the queue of every job it handed out. Absent: the adapter finds it.
   */
  queue?: string
}

export interface CompleteOptions {
  /**
   * Delete the job in the completion instead of keeping it `completed` (the consumer keeps no completed
   * jobs: `removeOnComplete: true`). Fenced with the completion: a rejected completion deletes nothing.
   * The id is free again afterwards, as after `prune`. A hint: an adapter that keeps the record instead
   * (status `completed`) is correct too, retention then prunes it.
   */
  remove?: boolean
}

export interface FailRequest {
  error: JobError
  /**
   * Backoff in ms before the next attempt; `null` fails the job for good. The engine decides from
   * `attempts`/`maxAttempts`, `ctx.discard()` and the retry policy.
   */
  retryDelayMs: number | null
}

export interface AddOptions {
  /**
   * The caller's own database transaction (e.g. a postgres.js `tx` from `sql.begin`): the job must exist if
   * and only if that transaction commits, and consumers are woken only on commit. An adapter that cannot
   * enqueue inside the given transaction throws `OqronConfigError` and stores nothing.
   */
  tx?: unknown
}

export interface StallScanRequest {
  /** A job recovered more often than this fails as a poison job. */
  maxStalledCount: number
  /** At most this many jobs per call (a bounded scan). */
  limit: number
}

export interface ListQuery {
  queue?: string
  status?: JobStatus
  /** Page size, 1..1000. */
  limit: number
  /** Opaque cursor returned by the previous page. */
  cursor?: string | null
}

export interface JobPage {
  jobs: JobRecord[]
  /** null on the last page. */
  cursor: string | null
}

export interface PruneRequest {
  status: 'completed' | 'failed' | 'cancelled'
  /** Keep the newest `keep` finished jobs of that status; null keeps any number. */
  keep: number | null
  /** Remove jobs finished longer ago than this; null keeps any age. */
  maxAgeMs: number | null
  /** Remove at most this many per call (bounded batches). */
  limit: number
}

/**
 * Storage: job records as read by people and tools, queryable state and retention.
 * Writes that are part of a job's life (add, claim, settle) belong to the Broker, because they must
 * be atomic with the lease.
 */
export interface StorageAdapter {
  /** The record, or null. A consistent snapshot: never half of an in-flight Broker step. */
  getJob(ns: string, id: string): Promise<JobRecord | null>
  /** A page of records, newest first, filtered by queue and/or status. Stable under concurrent inserts. */
  listJobs(ns: string, query: ListQuery): Promise<JobPage>
  /** Jobs per status in one queue. May be approximate only while another call changes the queue. */
  countJobs(ns: string, queue: string): Promise<Record<JobStatus, number>>
  /**
   * Atomically delete a record that is not `active`; returns false if it is active or missing.
   * Never deletes a job a worker holds.
   */
  removeJob(ns: string, id: string): Promise<boolean>
  /** Delete finished jobs of one status past the count/age limits, oldest first; returns how many. Atomic per job. */
  prune(ns: string, queue: string, request: PruneRequest): Promise<number>
  /** Read a small JSON value shared by every node (module state, circuit breakers, last cron fire). */
  getState<T = unknown>(ns: string, key: string): Promise<T | null>
  /** Write a small JSON value; last write wins. `null` deletes it. */
  setState(ns: string, key: string, value: unknown): Promise<void>
  /**
   * Atomically set `key` to `next` only if it currently holds `expected` (deep JSON equality, key order
   * ignored; `null` means absent). Returns whether it was written. Used where two nodes may race (cron bookkeeping).
   */
  compareAndSetState(ns: string, key: string, expected: unknown, next: unknown): Promise<boolean>
}

/**
 * Broker: delivery and the job state machine. Every member that changes a job is atomic, and every
 * member that carries a `token` is fenced: it changes nothing and returns false/`lost` unless `token`
 * is the job's live lease token and the lease has not expired by the backend's clock.
 */
export interface BrokerAdapter {
  /**
   * Atomically store a job unless one with `job.id` exists (then `duplicate`, the existing record,
   * nothing changed — also while the queue is disabled: existence is checked first). Checks the queue's disabled flag in the same step: `hold` stores it `paused`,
   * `skip` stores nothing (`skipped`), `reject` stores nothing (`rejected`). Wakes waiting consumers.
   */
  add(ns: string, job: NewJob, options?: AddOptions): Promise<AddResult>
  /** `add` for many jobs; each is atomic on its own, results in input order. */
  addBulk(ns: string, jobs: NewJob[], options?: AddOptions): Promise<AddResult[]>
  /**
   * Atomically take up to `limit` due jobs of `queue` (promoting delayed jobs whose `runAt` has come),
   * highest priority first, FIFO within a priority (LIFO for `lifo` jobs), and for each in the same
   * step: status `active`, a new unique `token`, `workerId`, `lockExpiresAt = now + leaseMs`,
   * `attempts + 1`, `startedAt`, an `active` timeline entry. A job is returned to exactly one caller.
   * Returns [] while the queue is paused or disabled. The returned records (here and from
   * `completeAndClaim`) may have an empty `timeline` (`[]`): the engine never reads a claimed job's
   * timeline, so an adapter need not read it back; `getJob` still returns the full timeline.
   */
  claim(ns: string, queue: string, request: ClaimRequest): Promise<JobRecord[]>
  /** Fenced. Extend the lease to now + `leaseMs`. `cancelled` if the job was cancelled; `lost` if the token is stale. */
  renew(ns: string, id: string, token: string, leaseMs: number): Promise<RenewOutcome>
  /** Fenced. Record progress (0..100) and an optional label; appends a `progress` entry. */
  progress(ns: string, id: string, token: string, progress: number, label: string | null): Promise<boolean>
  /** Fenced. Append a timeline entry written by the handler (`log`). */
  log(ns: string, id: string, token: string, entry: TimelineEntry): Promise<boolean>
  /**
   * Fenced. `completed`, store `result`, clear the lease, set `finishedAt` (or, with `options.remove`,
   * delete the job in the same step). Rejects with `UnserializableDataError`, changing nothing, when the
   * backend cannot store `result` although it is JSON (PostgreSQL's `jsonb` refuses a NUL character); the
   * engine then fails the run with that error, as when the result is not JSON at all.
   */
  complete(
    ns: string,
    id: string,
    token: string,
    result: unknown,
    options?: CompleteOptions,
  ): Promise<boolean>
  /**
   * Optional. `complete`, then in the same atomic step a `claim` of up to `next.limit` jobs of the same
   * queue for the same worker: what a worker does when one job ends and its slot frees, in one round trip
   * instead of two. Fenced like `complete`: when the completion is rejected nothing is claimed. The claim
   * part follows every rule of `claim` (paused or disabled queues give none).
   */
  completeAndClaim?(
    ns: string,
    id: string,
    token: string,
    result: unknown,
    next: NextClaim,
    options?: CompleteOptions,
  ): Promise<{ completed: boolean; jobs: JobRecord[] }>
  /**
   * Fenced. Store `error`, clear the lease; with `retryDelayMs` the job goes back to `waiting`
   * (`delayed` if > 0) with a `retrying` entry, otherwise it is `failed` with `finishedAt`.
   */
  fail(ns: string, id: string, token: string, request: FailRequest): Promise<boolean>
  /**
   * Fenced. Give the job back at once (graceful shutdown): `waiting`, lease cleared, the interrupted
   * attempt not counted, a `released` entry. Another worker can claim it immediately.
   */
  release(ns: string, id: string, token: string): Promise<boolean>
  /**
   * Atomically find `active` jobs of `queue` whose lease expired by the backend's clock and, per job:
   * `guaranteed` jobs get `stalledCount + 1`, a `stalled` entry and go back to the front of the queue with
   * status `stalled` (claimable like `waiting`), or fail as poison past `maxStalledCount`; at-most-once jobs
   * fail with "worker lost". Safe to run from every node at once: each expired lease is acted on by exactly
   * one caller.
   */
  recoverStalled(ns: string, queue: string, request: StallScanRequest): Promise<StallOutcome[]>
  /**
   * Atomically write a `cancelled` tombstone (record kept, lease cleared, `finishedAt` set) for a job that
   * is not finished, and notify `onCancel` subscribers of every node. Returns the record after the call
   * and whether this call cancelled it; null if no such job.
   */
  cancel(ns: string, id: string): Promise<{ job: JobRecord; cancelled: boolean } | null>
  /**
   * Atomically move a `failed` or `cancelled` job back to `waiting` with attempts reset. A job in any other
   * status is returned unchanged. Null if missing.
   */
  retry(ns: string, id: string): Promise<JobRecord | null>
  /** Stop delivering jobs of `queue` (claims return []) until `resume`. Adds are still accepted. */
  pause(ns: string, queue: string): Promise<void>
  resume(ns: string, queue: string): Promise<void>
  isPaused(ns: string, queue: string): Promise<boolean>
  /**
   * Set the disabled flag that `add` and `claim` read. Enabling moves every `paused` (held) job of the
   * queue back to `waiting`/`delayed` atomically and wakes consumers.
   */
  setDisabled(ns: string, queue: string, disabled: boolean): Promise<void>
  isDisabled(ns: string, queue: string): Promise<boolean>
  /**
   * Resolve when work may be available in `queue` (an add, a resume, a release, a requeue, a delayed job
   * coming due) or after `timeoutMs`, or at once when `signal` aborts. Must not poll faster than
   * `timeoutMs`; a false wake-up is allowed, a missed one is not (the next claim would find the job).
   */
  waitForWork(ns: string, queue: string, timeoutMs: number, signal: AbortSignal): Promise<void>
  /** Call `listener(jobId)` whenever a job of `ns` is cancelled on any node. Returns the unsubscribe function. */
  onCancel(ns: string, listener: (jobId: string) => void): Promise<() => Promise<void>>
}

/**
 * Lock: TTL locks with owner tokens (leader election, batch and stage locks). Expiry is judged by the
 * backend's clock; every member that takes a token is fenced by it.
 */
export interface LockAdapter {
  /** Atomically take `key` if free or expired; returns a new unique token, or null if someone else holds it. */
  acquire(ns: string, key: string, owner: string, ttlMs: number): Promise<string | null>
  /** Fenced. Extend the lock to now + `ttlMs`; false if `token` no longer holds it. */
  renew(ns: string, key: string, token: string, ttlMs: number): Promise<boolean>
  /** Fenced. Free the lock; false if `token` no longer holds it. */
  release(ns: string, key: string, token: string): Promise<boolean>
  /** True if `token` holds `key` and it has not expired. */
  isOwner(ns: string, key: string, token: string): Promise<boolean>
}

/** What an adapter package's factory returns, e.g. `memoryAdapter()` or `redisAdapter({ url })`. */
export interface OqronAdapters {
  /** Short name for logs, e.g. `memory`, `redis`. */
  readonly name: string
  readonly storage: StorageAdapter
  readonly broker: BrokerAdapter
  readonly lock: LockAdapter
  /** Called once by `init()`: connect, migrate, check settings. Optional. */
  open?(): Promise<void>
  /**
   * Close every connection and timer the adapter opened; a pending `waitForWork` resolves. After it, nothing
   * keeps the process alive. Calling it twice is harmless.
   */
  close(): Promise<void>
}
