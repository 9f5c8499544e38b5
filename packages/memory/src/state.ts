import {
  JOB_STATUSES,
  type JobRecord,
  type JobStatus,
  pushTimeline,
  type TimelineEntry,
} from '@oqronkit/core'
import { Deque, MinHeap } from './deque.js'

/**
 * A job as the memory backend holds it. Data and result stay as JSON text, so what a caller reads back
 * is a fresh copy with the same semantics as a durable adapter (no shared mutable objects).
 */
export interface StoredJob extends Omit<JobRecord, 'data' | 'result'> {
  dataJson: string
  resultJson: string | null
  /** Position in the namespace's insertion order (for newest-first listing). */
  seq: number
  /**
   * The stamp of the job's current entry in a ready list or a finished list. A job that leaves a list
   * (cancelled, removed, re-added, retried) leaves its entry behind; an entry whose stamp is not the job's
   * `place` is stale and skipped, so it can neither deliver the job out of order nor prune it in its old place.
   */
  place: number
}

/** A job's entry in a ready or finished list. */
export interface ListEntry {
  id: string
  stamp: number
}

let lastStamp = 0

export function toRecord(job: StoredJob): JobRecord {
  return {
    id: job.id,
    queue: job.queue,
    status: job.status,
    data: JSON.parse(job.dataJson),
    result: job.resultJson === null ? null : JSON.parse(job.resultJson),
    error: job.error ? { ...job.error } : null,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    stalledCount: job.stalledCount,
    progress: job.progress,
    progressLabel: job.progressLabel,
    priority: job.priority,
    lifo: job.lifo,
    guaranteed: job.guaranteed,
    workerId: job.workerId,
    token: job.token,
    lockExpiresAt: job.lockExpiresAt,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    runAt: job.runAt,
    timeline: job.timeline.map((e) => ({ ...e })),
  }
}

/** Per-queue delivery state. Ready lists may hold stale ids (lazy deletion); readers check the status. */
export class QueueState {
  /** priority -> entries in delivery order. */
  readonly ready = new Map<number, Deque<ListEntry>>()
  /** Priorities present in `ready`, highest first. */
  priorities: number[] = []
  readonly delayed = new MinHeap<string>()
  readonly active = new Set<string>()
  readonly held = new Set<string>()
  readonly finished = {
    completed: new Deque<ListEntry>(),
    failed: new Deque<ListEntry>(),
    cancelled: new Deque<ListEntry>(),
  }
  readonly counts: Record<JobStatus, number> = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<
    JobStatus,
    number
  >
  paused = false
  disabled = false
  readonly waiters = new Set<() => void>()

  pushReady(job: StoredJob, front: boolean): void {
    let list = this.ready.get(job.priority)
    if (!list) {
      list = new Deque<ListEntry>()
      this.ready.set(job.priority, list)
      this.priorities.push(job.priority)
      this.priorities.sort((a, b) => b - a)
    }
    const entry = placeEntry(job)
    if (front) list.unshift(entry)
    else list.push(entry)
  }

  pushFinished(job: StoredJob, status: 'completed' | 'failed' | 'cancelled'): void {
    this.finished[status].push(placeEntry(job))
  }

  /** Whether a claim could find something now (false positives allowed). */
  hasReady(now: number): boolean {
    if (this.paused || this.disabled) return false
    if (this.counts.waiting > 0 || this.counts.stalled > 0) return true
    const due = this.delayed.peekKey()
    return due !== undefined && due <= now
  }

  wake(): void {
    if (this.waiters.size === 0) return
    const waiters = [...this.waiters]
    this.waiters.clear()
    for (const w of waiters) w()
  }
}

/** One namespace: its jobs, queues, locks and shared state. */
export class Namespace {
  readonly jobs = new Map<string, StoredJob>()
  /**
   * Jobs in insertion order, each with its `seq` (ascending, never renumbered: a listing cursor is a seq, so
   * compaction cannot move it). Removed jobs leave holes that listing skips.
   */
  order: { id: string; seq: number }[] = []
  private nextSeq = 0
  readonly queues = new Map<string, QueueState>()
  readonly state = new Map<string, string>()
  readonly locks = new Map<string, { token: string; owner: string; expiresAt: number }>()
  readonly cancelListeners = new Set<(jobId: string) => void>()

  queue(name: string): QueueState {
    let q = this.queues.get(name)
    if (!q) {
      q = new QueueState()
      this.queues.set(name, q)
    }
    return q
  }

  /** The next insertion seq; the caller appends `{ id, seq }` to `order`. */
  newSeq(): number {
    return this.nextSeq++
  }

  compact(): void {
    if (this.order.length > 64 && this.order.length > this.jobs.size * 2) {
      this.order = this.order.filter((e) => this.jobs.get(e.id)?.seq === e.seq)
    }
  }
}

/** Moves a job to `status`, keeping the per-queue counters right. */
export function setStatus(q: QueueState, job: StoredJob, status: JobStatus): void {
  q.counts[job.status]--
  q.counts[status]++
  job.status = status
}

/** A new list entry for `job`, which becomes its only live one. */
function placeEntry(job: StoredJob): ListEntry {
  job.place = ++lastStamp
  return { id: job.id, stamp: job.place }
}

/** Whether `entry` is the live list entry of `job`. */
export function isPlace(job: StoredJob | undefined, entry: ListEntry): job is StoredJob {
  return job !== undefined && job.place === entry.stamp
}

export function addEntry(job: StoredJob, entry: TimelineEntry): void {
  pushTimeline(job.timeline, entry)
}
