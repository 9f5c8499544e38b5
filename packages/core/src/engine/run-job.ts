import type { CompleteOptions, RenewOutcome } from '../contracts.js'
import { JobCancelledError, LeaseLostError, UnserializableDataError } from '../errors.js'
import type { JobError, JobRecord } from '../job.js'
import { retryDelay } from '../options.js'
import { assertSerializable, storableText } from '../serialize.js'
import { HeartbeatWorker } from './heartbeat.js'
import type { ConsumerDefinition, EngineContext, JobContext, LogLevel } from './types.js'

const REMOVE: CompleteOptions = Object.freeze({ remove: true })

/**
 * What a run's failure stores: name, message and stack as text every backend keeps as given (`storableText`), so
 * the record read back after a retried fail shows the very error this run sent.
 */
export function toJobError(error: unknown): JobError {
  if (error instanceof Error) {
    return {
      name: storableText(error.name),
      message: storableText(error.message),
      stack: error.stack === undefined ? undefined : storableText(error.stack),
    }
  }
  return { name: 'Error', message: storableText(typeof error === 'string' ? error : describe(error)) }
}

/**
 * A thrown non-Error as text. Never throws: a value JSON cannot encode (a cycle, a BigInt) or that has no
 * string form (a null-prototype object) must still fail its job, not break every try of the settle.
 */
function describe(value: unknown): string {
  try {
    const json = JSON.stringify(value)
    if (json !== undefined) return json
  } catch {
    // Not JSON: fall back to its string form.
  }
  try {
    return String(value)
  } catch {
    return `[unprintable ${typeof value}]`
  }
}

/**
 * One run of one claimed job: heartbeat (or, for at-most-once jobs, a deadline), the handler, then one
 * fenced settle. Every write carries the claim's token, so a run whose lease moved on changes nothing.
 */
export class JobRun {
  /** Created when the handler first reads `ctx.signal` (most never do): an AbortController costs a few µs. */
  private controller: AbortController | null = null
  private abortReason: Error | null = null
  /** Set when shutdown gave the job back: the run must not settle it any more. */
  released = false
  /**
   * Set once the handler has ended and the run settles the job (not released first): shutdown must not give it
   * back then, or a release that overtakes the completion would throw the finished run's result away.
   */
  settling = false
  readonly done: Promise<void>
  private heartbeat: HeartbeatWorker | null = null
  private deadline: unknown = null
  private discarded = false
  /** False while a prefetched run waits for a slot (see `begin`). */
  started: boolean
  /** Ends the wait of a prefetched run: on `begin`, or on abort (the run then ends without starting). */
  private startGate: (() => void) | null = null

  constructor(
    private readonly engine: EngineContext,
    private readonly definition: ConsumerDefinition,
    readonly job: JobRecord,
    /**
     * The consumer's hand-over: how many jobs to claim with this run's completion (0: none) and where to
     * start them. Lets a freed slot take its next job in the completion's round trip.
     */
    private readonly successor?: { limit(): number; start(jobs: JobRecord[]): void },
    /** Claimed ahead (prefetch): lease and heartbeat now, the handler only after `begin()`. */
    deferred = false,
    /** Called once the handler has returned or thrown, before the settle (the consumer frees the slot). */
    private readonly onHandlerEnd?: () => void,
  ) {
    this.started = !deferred
    this.done = this.run(deferred)
  }

  /**
   * Start a prefetched run's handler: a slot is free. False if it cannot start: aborted while it waited,
   * or its lease was not renewed for `lockTtlMs` (this process was frozen; the job may run elsewhere by
   * now), which aborts it as lost without running the handler.
   */
  begin(): boolean {
    if (this.aborted) return false
    if (this.heartbeat !== null && !this.heartbeat.leaseFresh()) {
      const { engine, job } = this
      engine.events.emit('lease-lost', {
        jobId: job.id,
        queue: job.queue,
        workerId: engine.workerId,
        reason: 'lease expired before the job started',
      })
      this.abort(new LeaseLostError(job.id, 'its lease expired while it waited for a slot'))
      return false
    }
    this.started = true
    this.openGate()
    return true
  }

  private openGate(): void {
    const gate = this.startGate
    this.startGate = null
    gate?.()
  }

  get token(): string {
    return this.job.token!
  }

  get aborted(): boolean {
    return this.abortReason !== null
  }

  /** Aborted because the job was cancelled. */
  get cancelled(): boolean {
    return this.abortReason instanceof JobCancelledError
  }

  /** The handler's signal; aborted already if the run was, with the same reason. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController()
      if (this.abortReason !== null) this.controller.abort(this.abortReason)
    }
    return this.controller.signal
  }

  abort(reason: Error): void {
    if (this.abortReason !== null) return
    this.abortReason = reason
    // An aborted run renews nothing and has no deadline left to enforce; its handler may go on ignoring its
    // signal (even past stop()), but no timer of ours goes on with it.
    this.stopClocks()
    this.controller?.abort(reason)
    this.openGate()
  }

  /** Stop the heartbeat (or the at-most-once deadline). */
  private stopClocks(): void {
    this.heartbeat?.stop()
    if (this.deadline !== null) this.engine.timers.clearTimeout(this.deadline)
    this.deadline = null
  }

  private async run(deferred: boolean): Promise<void> {
    const { engine, definition, job } = this
    const { options } = definition
    if (job.guaranteed) {
      this.heartbeat = new HeartbeatWorker(
        engine,
        job.id,
        job.queue,
        this.token,
        options.heartbeatMs,
        options.lockTtlMs,
        this,
      )
      this.heartbeat.start()
    } else {
      // At-most-once: no renewals. Past lockTtlMs any node may fail the job as "worker lost", so stop here too.
      this.deadline = engine.timers.setTimeout(
        () =>
          this.abort(
            new LeaseLostError(job.id, 'it ran past lockTtlMs without a heartbeat (guaranteedWorker: false)'),
          ),
        options.lockTtlMs,
      )
    }
    if (deferred) {
      // Set synchronously in the constructor, so neither begin() nor abort() can come before it.
      await new Promise<void>((resolve) => {
        this.startGate = resolve
      })
      if (!this.started) {
        // Aborted while waiting (cancelled, lease lost, released at shutdown): the handler never ran, and
        // whoever aborted it wrote what there is to write.
        this.stopClocks()
        return
      }
    }
    engine.events.emit('active', { job, workerId: engine.workerId })

    let ok = false
    let value: unknown
    try {
      value = await definition.handler(this.context())
      if (value !== undefined) assertSerializable(value, 'result')
      ok = true
    } catch (error) {
      value = error
      // A handler that threw synchronously brought us here from within the constructor: yield once, so the
      // consumer is not told of the end (onHandlerEnd) of a run it does not hold yet.
      await undefined
    }
    this.stopClocks()
    this.onHandlerEnd?.()
    if (this.released) return
    this.settling = true
    const reason = this.abortReason
    // A cancelled job already has its tombstone; nothing of this run may be written.
    if (reason instanceof JobCancelledError) return
    // A settle is fenced, so retrying it after a connection error is safe. Keep trying while the lease may
    // still be live; past it, the stall detector re-delivers the job and our token is dead anyway.
    const deadline = Date.now() + definition.options.lockTtlMs
    for (let attempt = 0; ; attempt++) {
      try {
        if (ok) await this.complete(value, attempt > 0)
        else await this.fail(value, attempt > 0)
        return
      } catch (error) {
        if (ok && error instanceof UnserializableDataError) {
          // The backend cannot store this result (PostgreSQL's jsonb refuses a NUL character, say): the run
          // fails with that error, as when core refuses the result, instead of retrying a completion that
          // cannot succeed until the lease runs out and the job runs again. Nothing was written.
          ok = false
          value = error
          attempt = -1
          continue
        }
        engine.events.emit('error', { error, where: `settling job ${job.id}` })
        const wait = Math.min(2_000, 100 * 2 ** attempt)
        if (Date.now() + wait >= deadline) return
        await new Promise<void>((resolve) => engine.timers.setTimeout(resolve, wait))
      }
    }
  }

  /**
   * `retried`: an earlier try failed with a connection error, so it may have been applied with only its
   * reply lost. A rejection is then checked against the record before calling the run stale.
   */
  private async complete(result: unknown, retried: boolean): Promise<void> {
    const { engine, job } = this
    const { broker } = engine.adapters
    const { guaranteedWorker, lockTtlMs, removeOnComplete } = this.definition.options
    // Keeping no completed job at all: the completion may delete the record itself (one write, no prune).
    const options = removeOnComplete.keep === 0 && removeOnComplete.maxAgeMs === null ? REMOVE : undefined
    const limit = broker.completeAndClaim ? (this.successor?.limit() ?? 0) : 0
    let completed: boolean
    if (limit > 0) {
      const next = {
        workerId: engine.workerId,
        limit,
        leaseMs: lockTtlMs,
        guaranteed: guaranteedWorker,
        queue: job.queue,
      }
      const outcome = await broker.completeAndClaim!(
        engine.ns,
        job.id,
        this.token,
        result ?? null,
        next,
        options,
      )
      completed = outcome.completed
      // Started before this run ends, so the freed slot is already taken when the claim loop looks.
      if (outcome.jobs.length > 0) this.successor!.start(outcome.jobs)
    } else {
      completed = await broker.complete(engine.ns, job.id, this.token, result ?? null, options)
    }
    if (!completed && retried) completed = await this.completedByUs(options === REMOVE)
    if (completed) engine.events.emit('completed', { job, result })
    else await this.refused('completion rejected')
  }

  /**
   * Whether this run's completion is what the backend holds: the record is `completed` by this worker in this
   * attempt, or, for a removing completion, gone.
   */
  private completedByUs(removed: boolean): Promise<boolean> {
    return this.storedMatches((stored) =>
      stored === null ? removed : this.finishedThisAttempt(stored, 'completed'),
    )
  }

  /**
   * The record as the backend holds it now, judged by `matches`; false if the read fails. Used after a settle
   * retried past a connection error was rejected: the first try may have been applied with its reply lost.
   */
  private async storedMatches(matches: (stored: JobRecord | null) => boolean): Promise<boolean> {
    try {
      return matches(await this.engine.adapters.storage.getJob(this.engine.ns, this.job.id))
    } catch {
      return false
    }
  }

  /** The record was finished as `status` by this worker in this run's attempt (same `startedAt`). */
  private finishedThisAttempt(stored: JobRecord, status: 'completed' | 'failed'): boolean {
    const { engine, job } = this
    return (
      stored.status === status &&
      stored.workerId === engine.workerId &&
      stored.startedAt === job.startedAt &&
      stored.attempts === job.attempts
    )
  }

  /** `retried`: as for `complete`, an earlier try may have been applied with only its reply lost. */
  private async fail(thrown: unknown, retried: boolean): Promise<void> {
    const { engine, job, definition } = this
    const error = toJobError(thrown)
    const final = this.discarded || job.attempts >= job.maxAttempts
    // An error may say when to try again (an HTTP Retry-After, a rate limit); it wins over the policy.
    const hinted = (thrown as { retryAfterMs?: unknown } | null)?.retryAfterMs
    const delayMs = final
      ? null
      : typeof hinted === 'number' && Number.isFinite(hinted) && hinted >= 0
        ? Math.round(hinted)
        : retryDelay(definition.options.retries, job.attempts)
    let applied = await engine.adapters.broker.fail(engine.ns, job.id, this.token, {
      error,
      retryDelayMs: delayMs,
    })
    if (!applied && retried) applied = await this.failedByUs(error, delayMs === null)
    if (applied) {
      if (delayMs === null) engine.events.emit('failed', { job, error, final: true })
      else engine.events.emit('retrying', { job, error, delayMs })
    } else await this.refused('failure rejected')
  }

  /**
   * A settle was refused. A job cancelled meanwhile keeps its tombstone and was never this run's to settle: that
   * is a cancellation (the notification may not have come yet, so ask the backend), not a stale write.
   */
  private async refused(reason: string): Promise<void> {
    if (this.cancelled) return
    // A run that already knows its lease is gone has nothing to ask.
    if (!this.aborted && (await this.currentOutcome()) === 'cancelled') {
      this.abort(new JobCancelledError(this.job.id))
      return
    }
    this.stale(reason)
  }

  /** What the backend says of this run's token; null if it cannot say. Fenced: a token not live changes nothing. */
  private async currentOutcome(): Promise<RenewOutcome | null> {
    const { engine, job } = this
    try {
      return await engine.adapters.broker.renew(
        engine.ns,
        job.id,
        this.token,
        this.definition.options.lockTtlMs,
      )
    } catch {
      return null
    }
  }

  /**
   * Whether this run's failure is what the backend holds, with the same stall count and error: failed for
   * good by this worker in this attempt, or, retried, back in the queue with this attempt counted (same
   * `startedAt`) or already claimed for the next one. A lease lost meanwhile shows as a stall (the count
   * moved), a cancellation or another error.
   */
  private failedByUs(error: JobError, final: boolean): Promise<boolean> {
    const { job } = this
    return this.storedMatches((stored) => {
      if (!stored || stored.stalledCount !== job.stalledCount || stored.error?.message !== error.message) {
        return false
      }
      if (final) return this.finishedThisAttempt(stored, 'failed')
      return (
        ((stored.status === 'waiting' || stored.status === 'delayed') &&
          stored.startedAt === job.startedAt &&
          stored.attempts === job.attempts) ||
        (stored.status === 'active' && stored.attempts === job.attempts + 1)
      )
    })
  }

  /** A fenced write was refused: count it, say so, and make sure the handler's signal is aborted. */
  private stale(reason: string): void {
    const { engine, job } = this
    engine.staleWrites++
    engine.events.emit('lease-lost', { jobId: job.id, queue: job.queue, workerId: engine.workerId, reason })
    this.abort(new LeaseLostError(job.id))
  }

  /**
   * A fenced write of the handler (progress, log). When it is refused, ask the backend why: a cancelled
   * job aborts the run, a lost lease counts as a stale write.
   */
  async guardedWrite(write: () => Promise<boolean>): Promise<boolean> {
    const { engine, job } = this
    try {
      const ok = await write()
      if (!ok && !this.aborted) {
        const current = await engine.adapters.broker.renew(
          engine.ns,
          job.id,
          this.token,
          this.definition.options.lockTtlMs,
        )
        if (current === 'cancelled') this.abort(new JobCancelledError(job.id))
        else if (current === 'lost') this.stale('write rejected')
      }
      return ok
    } catch (error) {
      engine.events.emit('error', { error, where: `write of job ${job.id}` })
      return false
    }
  }

  discard(): void {
    this.discarded = true
  }

  private context(): JobContext {
    return new RunContext(this, this.engine)
  }
}

/**
 * The handler's `ctx`. Its signal and its bound methods are made when first read (destructuring included),
 * so a handler that uses none of them costs no AbortController and no closures.
 */
class RunContext implements JobContext {
  readonly id: string
  readonly queue: string
  readonly data: unknown
  readonly attempt: number
  readonly job: JobRecord
  private boundProgress?: JobContext['progress']
  private boundLog?: JobContext['log']
  private boundDiscard?: JobContext['discard']

  constructor(
    private readonly run: JobRun,
    private readonly engine: EngineContext,
  ) {
    const { job } = run
    this.id = job.id
    this.queue = job.queue
    this.data = job.data
    this.attempt = job.attempts
    this.job = job
  }

  get signal(): AbortSignal {
    return this.run.signal
  }

  get progress(): JobContext['progress'] {
    this.boundProgress ??= (pct: number, label?: string) => {
      const { engine, run } = this
      const { job } = run
      const value = Math.max(0, Math.min(100, Number.isFinite(pct) ? pct : 0))
      engine.events.emit('progress', {
        jobId: job.id,
        queue: job.queue,
        progress: value,
        label: label ?? null,
      })
      return run.guardedWrite(() =>
        engine.adapters.broker.progress(engine.ns, job.id, run.token, value, label ?? null),
      )
    }
    return this.boundProgress
  }

  get log(): JobContext['log'] {
    this.boundLog ??= (level: LogLevel, message: string, meta?: Record<string, unknown>) => {
      const { engine, run } = this
      let detail = `[${level}] ${message}`
      if (meta !== undefined) {
        try {
          detail += ` ${JSON.stringify(meta)}`
        } catch {
          detail += ' [unserializable meta]'
        }
      }
      return run.guardedWrite(() =>
        engine.adapters.broker.log(engine.ns, run.job.id, run.token, {
          at: 0,
          event: 'log',
          workerId: engine.workerId,
          detail,
        }),
      )
    }
    return this.boundLog
  }

  get discard(): JobContext['discard'] {
    this.boundDiscard ??= () => this.run.discard()
    return this.boundDiscard
  }
}
