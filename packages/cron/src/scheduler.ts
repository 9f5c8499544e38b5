import {
  type EngineContext,
  type EnqueueDefaults,
  ModuleDisabledError,
  type OqronConfig,
  type OqronRuntime,
} from '@oqronkit/core'
import type { FireSource } from './sources.js'

export type MissedFire = 'skip' | 'run-once' | 'run-all'
export type Overlap = 'skip' | 'run'

export interface SchedulerSettings {
  kind: 'cron' | 'schedule'
  name: string
  queue: string
  source: FireSource
  missedFire: MissedFire
  maxMissedRuns: number
  overlap: Overlap
  jitterMs: number
  misfireGraceMs: number
  leaderTtlMs: number
  payload: unknown
  defaults: EnqueueDefaults
}

/**
 * Where a pass starts walking fire times: `last`, or after a long outage a later point before `edge` (fires
 * before it are missed) that still leaves the latest `keep` missed fires to walk, found by doubling a window
 * back from `edge`. Each step walks at most `keep` fires.
 */
function walkStart(source: FireSource, last: number, edge: number, keep: number): number {
  for (let span = 1_000; ; span *= 2) {
    const from = edge - span
    if (from <= last) return last
    let n = 0
    for (let t = source.next(from); t !== null && t < edge && n < keep; t = source.next(t)) n++
    if (n >= keep) return from
  }
}

/** What one scheduling pass did, for tests and logs. */
export interface TickResult {
  leader: boolean
  /** Fire times (ISO) enqueued in this pass. */
  fired: string[]
  /** Fire times dropped by `missedFire`, `overlap` or a cancelled schedule. */
  dropped: string[]
}

/** The job id of one fire: deterministic, so idempotent add makes every fire exactly-once. */
export function fireJobId(queue: string, fireAt: number): string {
  return `${queue}:${new Date(fireAt).toISOString()}`
}

const LIVE = new Set(['waiting', 'delayed', 'active', 'stalled', 'paused'])

/**
 * Turns a recurring definition into jobs. One node at a time leads (a TTL lock on the Lock adapter); the
 * leader enqueues each due fire as a job with a deterministic id and advances the last fire time in
 * storage. Leadership only saves work: were two nodes to lead at once, idempotent add would still make
 * each fire exactly one job.
 */
export class RecurringScheduler {
  private engine: EngineContext | null = null
  private token: string | null = null
  private fireTimer: unknown = null
  private leaderTimer: unknown = null
  private chain: Promise<unknown> = Promise.resolve()
  private stopped = true
  /** A heartbeat (renewal or tick) is still out: the next period sends nothing behind it. */
  private beating = false
  /** When the last confirmed acquire or renewal of the leader lock was sent. */
  private heldSince = 0
  /** How often the leader lock is renewed (and a failed pass retried), ms. */
  private period = 1_000

  constructor(
    private readonly runtime: OqronRuntime,
    private readonly settings: SchedulerSettings,
  ) {}

  private get lastKey(): string {
    return `${this.settings.kind}:${this.settings.name}:last`
  }

  /** The latest fire actually enqueued: what `overlap: 'skip'` waits for (`last` may be a dropped fire). */
  private get firedKey(): string {
    return `${this.settings.kind}:${this.settings.name}:fired`
  }

  private get leaderKey(): string {
    return `${this.settings.kind}:${this.settings.name}:leader`
  }

  get cancelledKey(): string {
    return `${this.settings.kind}:${this.settings.name}:cancelled`
  }

  get isLeader(): boolean {
    return this.token !== null
  }

  start(_config: OqronConfig): void {
    this.engine = this.runtime.engineContext()
    this.stopped = false
    this.period = Math.max(50, Math.min(1_000, Math.floor(this.settings.leaderTtlMs / 4)))
    this.leaderTimer = this.engine.timers.setInterval(() => void this.heartbeat(), this.period)
    void this.tick()
  }

  /** Stop firing and hand leadership over at once (invariant 7: release all locks). */
  async stop(): Promise<void> {
    this.stopped = true
    const engine = this.engine
    if (!engine) return
    engine.timers.clearInterval(this.leaderTimer)
    engine.timers.clearTimeout(this.fireTimer)
    await this.chain.catch(() => {})
    if (this.token) {
      const token = this.token
      this.token = null
      await engine.adapters.lock.release(engine.ns, this.leaderKey, token).catch(() => {})
    }
    this.engine = null
  }

  /** One scheduling pass now. Runs by itself at each fire time; tests with an injected clock call it. */
  tick(): Promise<TickResult> {
    const run = this.chain.then(() => this.pass())
    this.chain = run.catch(() => {})
    return run
  }

  /**
   * Renew the leader lock (or, as a follower, try to take it). A renewal that does not answer (a half-open
   * connection) is not repeated behind itself; once no renewal has been confirmed for `leaderTtlMs`, counted
   * from when the last confirmed one was sent, this runtime stops acting as leader — another may hold the
   * lock by then — and takes it again through `tick()` when the backend answers.
   */
  private async heartbeat(): Promise<void> {
    const engine = this.engine
    if (!engine || this.stopped) return
    if (!this.runtime.isRunning) {
      // The runtime is stopping: it can enqueue nothing more, and its stop hooks run only after active jobs
      // drained (up to shutdown.timeoutMs). Hand leadership over now, or the fires of the drain go missing.
      void this.stop()
      return
    }
    if (this.token && Date.now() - this.heldSince >= this.settings.leaderTtlMs) this.token = null
    if (this.beating) return
    this.beating = true
    try {
      const token = this.token
      if (token) {
        const sentAt = Date.now()
        const ok = await engine.adapters.lock.renew(
          engine.ns,
          this.leaderKey,
          token,
          this.settings.leaderTtlMs,
        )
        if (this.token === token) {
          if (ok) this.heldSince = sentAt
          else this.token = null
        }
      } else {
        await this.tick()
      }
    } catch (error) {
      engine.events.emit('error', {
        error,
        where: `leader lock of ${this.settings.kind} "${this.settings.name}"`,
      })
    } finally {
      this.beating = false
    }
  }

  private async pass(): Promise<TickResult> {
    const engine = this.engine
    const result: TickResult = { leader: false, fired: [], dropped: [] }
    if (!engine || this.stopped || !this.runtime.isRunning) return result
    const { adapters, ns } = engine
    const s = this.settings
    try {
      if (!this.token) {
        const sentAt = Date.now()
        this.token = await adapters.lock.acquire(ns, this.leaderKey, engine.workerId, s.leaderTtlMs)
        if (!this.token) return result
        this.heldSince = sentAt
      }
      result.leader = true
      const now = engine.now()
      const last = await adapters.storage.getState<number>(ns, this.lastKey)
      if (last === null) {
        // First start of this definition anywhere: nothing was missed; fires count from now on.
        await adapters.storage.compareAndSetState(ns, this.lastKey, null, now)
        this.armTimer(now, now)
        return result
      }
      const due: number[] = []
      let missedCount = 0
      const keepMissed = s.missedFire === 'run-all' ? s.maxMissedRuns : s.missedFire === 'run-once' ? 1 : 0
      const missedTail: number[] = []
      // After a long outage the missed fires can be too many to walk one by one: walk from where the ones that
      // may run (the latest keepMissed missed ones and the due ones) begin; those before only count as dropped.
      const start = walkStart(s.source, last, now - s.misfireGraceMs, keepMissed)
      const skippedOver = start > last && (s.source.next(last) ?? Number.POSITIVE_INFINITY) <= start
      for (let t = s.source.next(start); t !== null && t <= now; t = s.source.next(t)) {
        if (now - t > s.misfireGraceMs) {
          missedCount++
          if (keepMissed > 0) {
            missedTail.push(t)
            if (missedTail.length > keepMissed) missedTail.shift()
          }
        } else due.push(t)
        if (missedCount + due.length > 1_000_000) break
      }
      if (missedCount + due.length === 0 && !skippedOver) {
        this.armTimer(now, last)
        return result
      }
      const latest = due.at(-1) ?? missedTail.at(-1) ?? (skippedOver ? start : last)
      const fires = [...missedTail, ...due]
      const droppedMissed = missedCount - missedTail.length
      if (skippedOver)
        result.dropped.push(
          `missed fires after ${new Date(last).toISOString()} before ${new Date(fires[0] ?? now).toISOString()}`,
        )
      else if (droppedMissed > 0)
        result.dropped.push(
          `${droppedMissed} missed fire(s) before ${new Date(fires[0] ?? now).toISOString()}`,
        )
      const cancelled = await adapters.storage.getState<boolean>(ns, this.cancelledKey)
      if (cancelled) {
        result.dropped.push(...fires.map((t) => new Date(t).toISOString()))
      } else {
        let skipForOverlap = false
        if (s.overlap === 'skip') {
          const previousFire = (await adapters.storage.getState<number>(ns, this.firedKey)) ?? last
          const previous = await adapters.storage.getJob(ns, fireJobId(s.queue, previousFire))
          skipForOverlap = previous !== null && LIVE.has(previous.status)
        }
        let lastFired: number | null = null
        for (const t of fires) {
          const iso = new Date(t).toISOString()
          if (skipForOverlap) {
            result.dropped.push(iso)
            continue
          }
          const jitter = s.jitterMs > 0 ? Math.floor(Math.random() * s.jitterMs) : 0
          try {
            await this.runtime.enqueue(
              s.queue,
              { fireAt: iso, payload: s.payload ?? null },
              { jobId: fireJobId(s.queue, t), delay: jitter },
              s.defaults,
            )
            result.fired.push(iso)
            lastFired = t
          } catch (error) {
            if (!(error instanceof ModuleDisabledError)) throw error
            result.dropped.push(iso)
          }
        }
        if (lastFired !== null) await adapters.storage.setState(ns, this.firedKey, lastFired)
      }
      // Enqueue first, then advance: a crash in between re-enqueues the same ids, which dedupe.
      await adapters.storage.compareAndSetState(ns, this.lastKey, last, latest)
      this.armTimer(now, latest)
    } catch (error) {
      engine.events.emit('error', { error, where: `${s.kind} "${s.name}" scheduling` })
      // The fire timer is one-shot and a leader's heartbeat only renews, so nothing else would run the next
      // pass: retry soon, while the fires this pass did not enqueue are still within misfireGraceMs.
      this.armRetry()
    }
    return result
  }

  /** Run the next pass after one heartbeat period. */
  private armRetry(): void {
    const engine = this.engine
    if (!engine || this.stopped) return
    engine.timers.clearTimeout(this.fireTimer)
    this.fireTimer = engine.timers.setTimeout(() => void this.tick(), this.period)
  }

  /** Wake up at the next fire (capped, so a changed clock or a lost timer is noticed within a minute). */
  private armTimer(now: number, from: number): void {
    const engine = this.engine
    if (!engine || this.stopped) return
    engine.timers.clearTimeout(this.fireTimer)
    const next = this.settings.source.next(Math.max(now, from))
    if (next === null) return
    this.fireTimer = engine.timers.setTimeout(
      () => void this.tick(),
      Math.min(Math.max(0, next - now), 60_000),
    )
  }
}
