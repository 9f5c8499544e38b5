import { JobCancelledError, LeaseLostError } from '../errors.js'
import type { EngineContext } from './types.js'

/** What a heartbeat stops when the lease is gone: the run (its handler's signal). */
export interface Abortable {
  readonly aborted: boolean
  abort(reason: Error): void
}

/**
 * Keeps one job's lease alive: renews it every `heartbeatMs` while the handler runs. When the backend says
 * the lease is gone (`lost`) or the job was cancelled, it aborts the run, so the handler stops
 * and its late writes are never attempted as if they were live. If no renewal is confirmed for a whole
 * `lockTtlMs` — renewals keep failing (backend unreachable) or one never answers (a half-open connection)
 * — it assumes the lease expired and aborts too, at that moment: better to stop than to run as a zombie
 * beside the re-run that the stall detector starts elsewhere.
 *
 * The lease is counted from when the last confirmed renewal was *sent* (or from the claim's reply, for
 * the first one): the server set its expiry from a later `now`, so this side never believes in a lease
 * the server already let go.
 */
export class HeartbeatWorker {
  private handle: unknown = null
  /** Armed while a renewal is unconfirmed: fires when the lease, by our count, has run out. */
  private expiry: unknown = null
  private lastRenewed = Date.now()
  private inFlight = false
  private stopped = false

  constructor(
    private readonly engine: EngineContext,
    private readonly jobId: string,
    private readonly queue: string,
    private readonly token: string,
    private readonly heartbeatMs: number,
    private readonly lockTtlMs: number,
    private readonly run: Abortable,
  ) {}

  start(): void {
    this.lastRenewed = Date.now()
    this.handle = this.engine.timers.setInterval(() => void this.beat(), this.heartbeatMs)
  }

  /**
   * Whether the lease may still be live by this process's clock: renewed (or claimed) less than `lockTtlMs`
   * ago. False after a long pause (a frozen process), when another node may already have recovered the job.
   */
  leaseFresh(): boolean {
    return Date.now() - this.lastRenewed < this.lockTtlMs
  }

  stop(): void {
    this.stopped = true
    const { timers } = this.engine
    if (this.handle !== null) timers.clearInterval(this.handle)
    if (this.expiry !== null) timers.clearTimeout(this.expiry)
    this.handle = null
    this.expiry = null
  }

  private async beat(): Promise<void> {
    if (this.stopped || this.run.aborted) return
    if (this.inFlight) {
      // The previous renewal has not answered in a whole heartbeat: make sure the run stops when the
      // lease runs out, whether or not it ever answers.
      this.armExpiry()
      return
    }
    this.inFlight = true
    const { adapters, ns, events } = this.engine
    const sentAt = Date.now()
    try {
      const outcome = await adapters.broker.renew(ns, this.jobId, this.token, this.lockTtlMs)
      if (this.stopped) return
      if (outcome === 'ok') {
        this.lastRenewed = sentAt
        this.disarmExpiry()
      } else if (outcome === 'cancelled') {
        this.stop()
        this.run.abort(new JobCancelledError(this.jobId))
      } else {
        this.engine.staleWrites++
        this.lose('renewal rejected', new LeaseLostError(this.jobId))
      }
    } catch (error) {
      if (this.stopped) return
      events.emit('error', { error, where: `heartbeat of job ${this.jobId}` })
      this.armExpiry()
    } finally {
      this.inFlight = false
    }
  }

  private armExpiry(): void {
    if (this.expiry !== null) return
    const left = Math.max(0, this.lastRenewed + this.lockTtlMs - Date.now())
    this.expiry = this.engine.timers.setTimeout(() => {
      this.expiry = null
      if (this.stopped || this.run.aborted || this.leaseFresh()) return
      this.lose(
        'renewals failed',
        new LeaseLostError(this.jobId, 'its lease could not be renewed for lockTtlMs'),
      )
    }, left)
  }

  /** The lease is gone: stop renewing, say so, and abort the run with `error`. */
  private lose(reason: string, error: LeaseLostError): void {
    this.stop()
    const { engine } = this
    engine.events.emit('lease-lost', {
      jobId: this.jobId,
      queue: this.queue,
      workerId: engine.workerId,
      reason,
    })
    this.run.abort(error)
  }

  private disarmExpiry(): void {
    if (this.expiry === null) return
    this.engine.timers.clearTimeout(this.expiry)
    this.expiry = null
  }
}
