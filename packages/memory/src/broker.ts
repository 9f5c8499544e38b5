import {
  type AddOptions,
  type AddResult,
  assertDurationMs,
  type BrokerAdapter,
  type ClaimRequest,
  type CompleteOptions,
  type FailRequest,
  type JobRecord,
  type NewJob,
  OqronConfigError,
  type RenewOutcome,
  type StallOutcome,
  type StallScanRequest,
  type TimelineEntry,
} from '@oqronkit/core'
import {
  addEntry,
  isPlace,
  type Namespace,
  type QueueState,
  type StoredJob,
  setStatus,
  toRecord,
} from './state.js'
import type { MemoryStore } from './store.js'

/**
 * The memory Broker. Each method runs as one synchronous step between two awaits, so no other caller
 * can observe a half-done change: that is this adapter's atomicity.
 */
export class MemoryBroker implements BrokerAdapter {
  constructor(private readonly store: MemoryStore) {}

  async add(ns: string, job: NewJob, options?: AddOptions): Promise<AddResult> {
    noTransaction(options)
    return this.addSync(this.store.ns(ns), job)
  }

  async addBulk(ns: string, jobs: NewJob[], options?: AddOptions): Promise<AddResult[]> {
    noTransaction(options)
    const space = this.store.ns(ns)
    return jobs.map((job) => this.addSync(space, job))
  }

  private addSync(space: Namespace, input: NewJob): AddResult {
    const existing = space.jobs.get(input.id)
    if (existing) return { outcome: 'duplicate', job: toRecord(existing) }
    const q = space.queue(input.queue)
    if (q.disabled && input.disabledBehavior === 'skip') return { outcome: 'skipped', job: null }
    if (q.disabled && input.disabledBehavior === 'reject') return { outcome: 'rejected', job: null }
    const now = this.store.now()
    const runAt = now + Math.max(0, input.delayMs)
    const job: StoredJob = {
      id: input.id,
      queue: input.queue,
      status: 'waiting',
      dataJson: JSON.stringify(input.data ?? null),
      resultJson: null,
      error: null,
      attempts: 0,
      maxAttempts: input.maxAttempts,
      stalledCount: 0,
      progress: 0,
      progressLabel: null,
      priority: input.priority,
      lifo: input.lifo,
      guaranteed: input.guaranteed,
      workerId: null,
      token: null,
      lockExpiresAt: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      runAt,
      timeline: [{ at: now, event: 'added' }],
      seq: space.newSeq(),
      place: 0,
    }
    space.jobs.set(job.id, job)
    space.order.push({ id: job.id, seq: job.seq })
    q.counts.waiting++
    if (q.disabled) {
      setStatus(q, job, 'paused')
      q.held.add(job.id)
      addEntry(job, { at: now, event: 'held', detail: 'module disabled' })
      return { outcome: 'held', job: toRecord(job) }
    }
    this.schedule(q, job, now, false)
    q.wake()
    return { outcome: 'created', job: toRecord(job) }
  }

  /** Puts a job in the ready list or the delayed heap depending on `runAt`. */
  private schedule(q: QueueState, job: StoredJob, now: number, front: boolean): void {
    if (job.runAt > now) {
      setStatus(q, job, 'delayed')
      q.delayed.push(job.runAt, job.id)
    } else {
      if (job.status !== 'waiting') setStatus(q, job, 'waiting')
      q.pushReady(job, front || job.lifo)
    }
  }

  async claim(ns: string, queue: string, request: ClaimRequest): Promise<JobRecord[]> {
    assertDurationMs(request.leaseMs, 'claim leaseMs', 'leaseMs')
    return this.claimSync(ns, queue, request)
  }

  private claimSync(ns: string, queue: string, request: ClaimRequest): JobRecord[] {
    const space = this.store.ns(ns)
    const q = space.queue(queue)
    if (q.paused || q.disabled || request.limit <= 0) return []
    const now = this.store.now()
    this.promoteDue(space, q, now)
    const claimed: JobRecord[] = []
    for (let p = 0; p < q.priorities.length && claimed.length < request.limit; ) {
      const priority = q.priorities[p]!
      const list = q.ready.get(priority)!
      const entry = list.shift()
      if (entry === undefined) {
        q.ready.delete(priority)
        q.priorities.splice(p, 1)
        continue
      }
      const id = entry.id
      const job = space.jobs.get(id)
      // Lazy deletion: entries of cancelled, removed, re-added or re-queued jobs may linger in the list; only
      // a job's current entry delivers it (an old one would deliver it out of its place and priority).
      if (
        !isPlace(job, entry) ||
        (job.status !== 'waiting' && job.status !== 'stalled') ||
        job.queue !== queue
      )
        continue
      setStatus(q, job, 'active')
      job.token = this.store.newToken()
      job.workerId = request.workerId
      job.lockExpiresAt = now + request.leaseMs
      job.attempts++
      job.startedAt = now
      job.finishedAt = null
      if (request.guaranteed !== undefined) job.guaranteed = request.guaranteed
      q.active.add(id)
      addEntry(job, {
        at: now,
        event: 'active',
        workerId: request.workerId,
        detail: `attempt ${job.attempts}`,
      })
      claimed.push(toRecord(job))
    }
    return claimed
  }

  private promoteDue(space: Namespace, q: QueueState, now: number): void {
    while (q.delayed.length > 0 && q.delayed.peekKey()! <= now) {
      const id = q.delayed.pop()!
      const job = space.jobs.get(id)
      if (job && job.status === 'delayed' && job.runAt <= now) this.schedule(q, job, now, false)
    }
  }

  /** The job if `token` holds its live lease by the backend's clock, else undefined. */
  private leased(ns: string, id: string, token: string): StoredJob | undefined {
    const job = this.store.ns(ns).jobs.get(id)
    if (job?.status !== 'active' || job.token !== token) return undefined
    if (job.lockExpiresAt === null || job.lockExpiresAt <= this.store.now()) return undefined
    return job
  }

  async renew(ns: string, id: string, token: string, leaseMs: number): Promise<RenewOutcome> {
    assertDurationMs(leaseMs, 'renew leaseMs', 'leaseMs')
    const job = this.leased(ns, id, token)
    if (!job) {
      const current = this.store.ns(ns).jobs.get(id)
      return current?.status === 'cancelled' ? 'cancelled' : 'lost'
    }
    job.lockExpiresAt = this.store.now() + leaseMs
    return 'ok'
  }

  async progress(
    ns: string,
    id: string,
    token: string,
    progress: number,
    label: string | null,
  ): Promise<boolean> {
    const job = this.leased(ns, id, token)
    if (!job) return false
    job.progress = progress
    job.progressLabel = label
    addEntry(job, {
      at: this.store.now(),
      event: 'progress',
      detail: label ? `${progress}% ${label}` : `${progress}%`,
    })
    return true
  }

  async log(ns: string, id: string, token: string, entry: TimelineEntry): Promise<boolean> {
    const job = this.leased(ns, id, token)
    if (!job) return false
    addEntry(job, { ...entry, at: this.store.now() })
    return true
  }

  async complete(
    ns: string,
    id: string,
    token: string,
    result: unknown,
    options?: CompleteOptions,
  ): Promise<boolean> {
    const job = this.leased(ns, id, token)
    return job ? this.completeSync(ns, job, result, options?.remove === true) : false
  }

  private completeSync(ns: string, job: StoredJob, result: unknown, remove: boolean): boolean {
    const space = this.store.ns(ns)
    const q = space.queue(job.queue)
    if (remove) {
      // Kept nowhere: out of the active set and the counters, the id free again (as prune does it).
      q.active.delete(job.id)
      q.counts[job.status]--
      space.jobs.delete(job.id)
      space.compact()
      return true
    }
    const now = this.store.now()
    job.resultJson = result === undefined ? null : JSON.stringify(result)
    this.finish(q, job, 'completed', now)
    addEntry(job, { at: now, event: 'completed', workerId: job.workerId ?? undefined })
    return true
  }

  async completeAndClaim(
    ns: string,
    id: string,
    token: string,
    result: unknown,
    next: ClaimRequest,
    options?: CompleteOptions,
  ): Promise<{ completed: boolean; jobs: JobRecord[] }> {
    const job = this.leased(ns, id, token)
    if (!job) return { completed: false, jobs: [] }
    // Both halves run in this one synchronous block: nothing can interleave between them.
    const completed = this.completeSync(ns, job, result, options?.remove === true)
    return { completed, jobs: this.claimSync(ns, job.queue, next) }
  }

  async fail(ns: string, id: string, token: string, request: FailRequest): Promise<boolean> {
    const job = this.leased(ns, id, token)
    if (!job) return false
    const q = this.store.ns(ns).queue(job.queue)
    const now = this.store.now()
    job.error = { ...request.error }
    const workerId = job.workerId ?? undefined
    if (request.retryDelayMs === null) {
      this.finish(q, job, 'failed', now)
      addEntry(job, { at: now, event: 'failed', workerId, detail: request.error.message })
    } else {
      this.clearLease(q, job)
      job.runAt = now + Math.max(0, request.retryDelayMs)
      addEntry(job, {
        at: now,
        event: 'retrying',
        workerId,
        detail: `${request.error.message}; next attempt in ${request.retryDelayMs} ms`,
      })
      this.schedule(q, job, now, false)
      q.wake()
    }
    return true
  }

  async release(ns: string, id: string, token: string): Promise<boolean> {
    const job = this.leased(ns, id, token)
    if (!job) return false
    const q = this.store.ns(ns).queue(job.queue)
    const now = this.store.now()
    addEntry(job, { at: now, event: 'released', workerId: job.workerId ?? undefined })
    this.clearLease(q, job)
    job.attempts = Math.max(0, job.attempts - 1)
    this.schedule(q, job, now, true)
    q.wake()
    return true
  }

  async recoverStalled(ns: string, queue: string, request: StallScanRequest): Promise<StallOutcome[]> {
    const space = this.store.ns(ns)
    const q = space.queue(queue)
    const now = this.store.now()
    const out: StallOutcome[] = []
    for (const id of q.active) {
      if (out.length >= request.limit) break
      const job = space.jobs.get(id)
      if (job?.status !== 'active') {
        q.active.delete(id)
        continue
      }
      if (job.lockExpiresAt === null || job.lockExpiresAt > now) continue
      const workerId = job.workerId ?? undefined
      if (!job.guaranteed) {
        job.error = {
          name: 'WorkerLostError',
          message: 'worker lost: the lease expired before the job settled',
        }
        this.finish(q, job, 'failed', now)
        addEntry(job, { at: now, event: 'worker-lost', workerId, detail: 'at-most-once job not re-run' })
        out.push({ job: toRecord(job), action: 'failed' })
        continue
      }
      job.stalledCount++
      addEntry(job, { at: now, event: 'stalled', workerId, detail: `stall ${job.stalledCount}` })
      if (job.stalledCount > request.maxStalledCount) {
        job.error = {
          name: 'StalledJobError',
          message: `job stalled ${job.stalledCount} times (maxStalledCount ${request.maxStalledCount}); failed as poison`,
        }
        this.finish(q, job, 'failed', now)
        addEntry(job, { at: now, event: 'failed', detail: job.error.message })
        out.push({ job: toRecord(job), action: 'failed' })
        continue
      }
      this.clearLease(q, job)
      // The record says `stalled` until a worker claims it; claims take stalled jobs like waiting ones.
      // A recovered job goes to the front: it was due before anything queued behind it.
      setStatus(q, job, 'stalled')
      q.pushReady(job, true)
      out.push({ job: toRecord(job), action: 'requeued' })
    }
    if (out.some((o) => o.action === 'requeued')) q.wake()
    return out
  }

  async cancel(ns: string, id: string): Promise<{ job: JobRecord; cancelled: boolean } | null> {
    const space = this.store.ns(ns)
    const job = space.jobs.get(id)
    if (!job) return null
    if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') {
      return { job: toRecord(job), cancelled: false }
    }
    const q = space.queue(job.queue)
    const now = this.store.now()
    const workerId = job.workerId ?? undefined
    q.held.delete(id)
    this.finish(q, job, 'cancelled', now)
    addEntry(job, { at: now, event: 'cancelled', workerId })
    for (const listener of space.cancelListeners) queueMicrotask(() => listener(id))
    return { job: toRecord(job), cancelled: true }
  }

  async retry(ns: string, id: string): Promise<JobRecord | null> {
    const space = this.store.ns(ns)
    const job = space.jobs.get(id)
    if (!job) return null
    if (job.status !== 'failed' && job.status !== 'cancelled') return toRecord(job)
    const q = space.queue(job.queue)
    const now = this.store.now()
    job.attempts = 0
    job.stalledCount = 0
    job.finishedAt = null
    job.error = null
    job.runAt = now
    addEntry(job, { at: now, event: 'retried' })
    this.schedule(q, job, now, false)
    q.wake()
    return toRecord(job)
  }

  async pause(ns: string, queue: string): Promise<void> {
    this.store.ns(ns).queue(queue).paused = true
  }

  async resume(ns: string, queue: string): Promise<void> {
    const q = this.store.ns(ns).queue(queue)
    q.paused = false
    q.wake()
  }

  async isPaused(ns: string, queue: string): Promise<boolean> {
    return this.store.ns(ns).queue(queue).paused
  }

  async setDisabled(ns: string, queue: string, disabled: boolean): Promise<void> {
    const space = this.store.ns(ns)
    const q = space.queue(queue)
    q.disabled = disabled
    if (disabled) return
    const now = this.store.now()
    for (const id of q.held) {
      const job = space.jobs.get(id)
      if (job?.status !== 'paused') continue
      addEntry(job, { at: now, event: 'resumed' })
      this.schedule(q, job, now, false)
    }
    q.held.clear()
    q.wake()
  }

  async isDisabled(ns: string, queue: string): Promise<boolean> {
    return this.store.ns(ns).queue(queue).disabled
  }

  waitForWork(ns: string, queue: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const q = this.store.ns(ns).queue(queue)
    const now = this.store.now()
    if (signal.aborted || q.hasReady(now)) return Promise.resolve()
    let wait = timeoutMs
    const due = q.delayed.peekKey()
    if (due !== undefined && !q.paused && !q.disabled) wait = Math.min(wait, Math.max(0, due - now))
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        q.waiters.delete(done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, wait)
      timer.unref?.()
      q.waiters.add(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  async onCancel(ns: string, listener: (jobId: string) => void): Promise<() => Promise<void>> {
    const space = this.store.ns(ns)
    space.cancelListeners.add(listener)
    return async () => {
      space.cancelListeners.delete(listener)
    }
  }

  private clearLease(q: QueueState, job: StoredJob): void {
    q.active.delete(job.id)
    job.token = null
    job.lockExpiresAt = null
    job.workerId = null
  }

  /** Settles a job for good. `workerId` stays as the last worker that held it, for the audit trail. */
  private finish(
    q: QueueState,
    job: StoredJob,
    status: 'completed' | 'failed' | 'cancelled',
    now: number,
  ): void {
    q.active.delete(job.id)
    job.token = null
    job.lockExpiresAt = null
    setStatus(q, job, status)
    job.finishedAt = now
    q.pushFinished(job, status)
  }
}

function noTransaction(options: AddOptions | undefined): void {
  if (options?.tx !== undefined) {
    throw new OqronConfigError(
      'The memory adapter cannot enqueue inside a database transaction (tx); use @oqronkit/postgres.',
      {
        field: 'tx',
      },
    )
  }
}
