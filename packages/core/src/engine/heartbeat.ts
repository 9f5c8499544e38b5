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
 * and its late writes are never attempted as if they were live. If renewals keep failing (backend
 * unreachable) for a whole `lockTtlMs`, it assumes the lease expired and aborts too: better to stop than
 * to run as a zombie.
 */
export class HeartbeatWorker {
  private handle: unknown = null
  private lastRenewed = Date.now()
  private inFlight = false

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
    if (this.handle !== null) this.engine.timers.clearInterval(this.handle)
    this.handle = null
  }

  private async beat(): Promise<void> {
    if (this.inFlight || this.run.aborted) return
    this.inFlight = true
    const { adapters, ns, events, workerId } = this.engine
    try {
      const outcome = await adapters.broker.renew(ns, this.jobId, this.token, this.lockTtlMs)
      if (outcome === 'ok') {
        this.lastRenewed = Date.now()
      } else if (outcome === 'cancelled') {
        this.stop()
        this.run.abort(new JobCancelledError(this.jobId))
      } else {
        this.stop()
        this.engine.staleWrites++
        events.emit('lease-lost', {
          jobId: this.jobId,
          queue: this.queue,
          workerId,
          reason: 'renewal rejected',
        })
        this.run.abort(new LeaseLostError(this.jobId))
      }
    } catch (error) {
      events.emit('error', { error, where: `heartbeat of job ${this.jobId}` })
      if (Date.now() - this.lastRenewed >= this.lockTtlMs) {
        this.stop()
        events.emit('lease-lost', {
          jobId: this.jobId,
          queue: this.queue,
          workerId,
          reason: 'renewals failed',
        })
        this.run.abort(new LeaseLostError(this.jobId, 'its lease could not be renewed for lockTtlMs'))
      }
    } finally {
      this.inFlight = false
    }
  }
}
