import { ShutdownError } from '../errors.js'
import type { JobRecord } from '../job.js'
import { sleep } from '../timers.js'
import { JobRun } from './run-job.js'
import { StallDetector } from './stall-detector.js'
import type { ConsumerDefinition, EngineContext } from './types.js'

/**
 * Runs one definition's jobs in one runtime: a claim loop that takes as many jobs as there are free
 * slots (plus `prefetch` claimed ahead, which wait here for a slot), waits on the broker's wake-up (never a
 * busy poll) when the queue is empty, and a stall detector and retention sweep on the engine's own timers.
 */
export class QueueConsumer {
  /** Every job this consumer holds claimed: running, or prefetched and waiting for a slot. */
  readonly runs = new Map<string, JobRun>()
  /** Prefetched runs in delivery order, not started yet (aborted ones are skipped when their turn comes). */
  private readonly waiting: JobRun[] = []
  /** Runs holding a slot: handler started, slot not given back yet. */
  private readonly holding = new Set<JobRun>()
  /** Prefetching runs whose handler has returned and whose settle is on its way (slot already given back). */
  private readonly settling = new Set<JobRun>()
  private readonly stopLoop = new AbortController()
  private slotFreed: (() => void) | null = null
  private loopDone: Promise<void> = Promise.resolve()
  readonly stallDetector: StallDetector
  private retentionTimer: unknown = null
  /** Set by the final `releaseAll()` of shutdown: nothing may start in this consumer any more. */
  private closed = false
  private settledSinceSweep = 0
  private sweepTicks = 0

  constructor(
    private readonly engine: EngineContext,
    readonly definition: ConsumerDefinition,
  ) {
    const { maxStalledCount, stallIntervalMs } = definition.options
    this.stallDetector = new StallDetector(engine, definition.queue, maxStalledCount, stallIntervalMs)
  }

  get queue(): string {
    return this.definition.queue
  }

  /** Jobs whose handler is running now (not counting prefetched ones waiting for a slot). */
  get runningCount(): number {
    return this.holding.size
  }

  start(): void {
    const { timers } = this.engine
    this.loopDone = this.loop()
    this.stallDetector.start()
    // Sweep each second after jobs settled; every 30 s regardless, so age limits apply on idle queues too.
    this.retentionTimer = timers.setInterval(() => void this.sweep(++this.sweepTicks % 30 === 0), 1_000)
  }

  /**
   * Stop claiming; running jobs go on, prefetched ones that have not started are given back at once.
   * Resolves when the claim loop has exited and those are released.
   */
  async stopClaiming(): Promise<void> {
    const { timers } = this.engine
    this.stopLoop.abort()
    this.slotFreed?.()
    this.stallDetector.stop()
    timers.clearInterval(this.retentionTimer)
    await this.loopDone
    const unstarted = this.waiting.splice(0).filter((run) => !run.aborted && !run.started)
    await this.releaseAll(unstarted)
  }

  /**
   * Give back every unfinished job at once so another node can take it (invariant 7). Without `runs` (the end
   * of shutdown) the consumer is closed too: a job a completion still on its way claims is given back as well.
   * A run whose handler has ended is left to its settle, which is on its way: released, its result would be
   * lost if the release overtook the completion, and the job would run again.
   */
  async releaseAll(runs?: JobRun[]): Promise<void> {
    if (runs === undefined) this.closed = true
    await Promise.all(
      (runs ?? [...this.runs.values()]).map(async (run) => {
        if (run.settling) return
        run.released = true
        run.abort(new ShutdownError())
        await this.release(run.job)
      }),
    )
  }

  private async release(job: JobRecord): Promise<void> {
    const { adapters, ns } = this.engine
    try {
      await adapters.broker.release(ns, job.id, job.token!)
    } catch (error) {
      // Unreachable backend: the lease expires and the stall detector recovers the job instead.
      this.engine.events.emit('error', { error, where: `releasing job ${job.id}` })
    }
  }

  private async loop(): Promise<void> {
    const { engine } = this
    const { concurrency, prefetch } = this.definition.options
    const signal = this.stopLoop.signal
    // With prefetch, claim again once half the buffer is used, so claims go out in batches of at least that.
    const batch = Math.max(1, Math.ceil(prefetch / 2))
    const limit = concurrency + prefetch
    // With prefetch, two claims may be on their way at once, each for up to half the buffer: the jobs of one
    // run while the next claim travels. With one claim at a time and short jobs the whole buffer ran before the
    // next claim went out, and the consumer sat idle for each claim's round trip (see docs/decisions.md).
    const maxClaims = prefetch > 0 ? 2 : 1
    const perClaim = prefetch > 0 ? Math.max(batch, Math.ceil(limit / 2)) : limit
    const claims = new Set<Promise<void>>()
    // `full`: the last claim got all it asked for (the queue is busy). Only then may a second claim go out
    // beside one on its way: an idle consumer woken for one job sends one claim, not two.
    const state = { asked: 0, failures: 0, failed: false, empty: false, full: false }
    while (!signal.aborted) {
      if (state.failed) {
        state.failed = false
        await sleep(engine.timers, Math.min(5_000, 100 * 2 ** Math.min(state.failures, 6)), signal)
        continue
      }
      if (state.empty && claims.size === 0) {
        state.empty = false
        try {
          await engine.adapters.broker.waitForWork(engine.ns, this.queue, engine.pollIntervalMs, signal)
        } catch (error) {
          engine.events.emit('error', { error, where: `waiting on ${this.queue}` })
          await sleep(engine.timers, 1_000, signal)
        }
        continue
      }
      // Settling runs count against a second, equal allowance, not against the buffer: a slow settle round
      // trip must not starve the handlers of claimed jobs (see startRun). Claims on their way hold what they asked.
      const free =
        Math.min(limit - (this.runs.size - this.settling.size), 2 * limit - this.runs.size) - state.asked
      if (state.empty || free < batch || claims.size >= (state.full ? maxClaims : 1)) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve
        })
        this.slotFreed = null
        // Let the other runs that settle in this turn free their slots too, then claim them in one call.
        await new Promise<void>((resolve) => setImmediate(resolve))
        continue
      }
      // Half the buffer, or all that is free when the rest would be too little for a claim of its own.
      const want = free - perClaim < batch ? free : perClaim
      state.asked += want
      const claim = this.claimFor(want, state).finally(() => {
        state.asked -= want
        claims.delete(claim)
        this.slotFreed?.()
      })
      claims.add(claim)
      if (maxClaims === 1) await claim
    }
    // Jobs that claims still on their way bring are ours: they start or wait, and stopClaiming gives back
    // the ones that never started.
    await Promise.all(claims)
  }

  /** One claim of up to `want` jobs, started (or queued for a slot) as they come; the loop reads `state`. */
  private async claimFor(
    want: number,
    state: { failures: number; failed: boolean; empty: boolean; full: boolean },
  ): Promise<void> {
    const { engine } = this
    const { lockTtlMs, guaranteedWorker } = this.definition.options
    try {
      const jobs = await engine.adapters.broker.claim(engine.ns, this.queue, {
        workerId: engine.workerId,
        limit: want,
        leaseMs: lockTtlMs,
        guaranteed: guaranteedWorker,
      })
      state.failures = 0
      state.full = jobs.length >= want
      for (const job of jobs) this.startRun(job)
      if (jobs.length === 0) state.empty = true
    } catch (error) {
      engine.events.emit('error', { error, where: `claiming from ${this.queue}` })
      state.full = false
      state.failures++
      state.failed = true
    }
  }

  /**
   * What a finishing run may claim in its completion's round trip: its own slot, while we are claiming and
   * not prefetching (with prefetch the slot takes a waiting job, and the loop claims in batches).
   */
  private readonly successor = {
    limit: () => (this.stopLoop.signal.aborted || this.definition.options.prefetch > 0 ? 0 : 1),
    start: (jobs: JobRecord[]) => {
      // The finishing run's slot: start now. Claimed during stop(): they are ours now, so they run (and
      // drain or get released like the rest). Claimed after shutdown released everything: give them back.
      for (const job of jobs) {
        if (this.closed) void this.release(job)
        else this.startRun(job, false)
      }
    },
  }

  /**
   * Run a claimed job now, or (a slot-less prefetched one) when a slot frees. With prefetch the slot is given
   * back when the handler returns, before the settle: the next waiting job starts while the completion is on
   * its way, and completions of many slots share one statement. Without prefetch the slot is held through the
   * settle, whose `completeAndClaim` claims the slot's next job.
   */
  private startRun(job: JobRecord, mayWait = true): void {
    const deferred = mayWait && this.holding.size >= this.definition.options.concurrency
    const early = this.definition.options.prefetch > 0
    const run: JobRun = new JobRun(
      this.engine,
      this.definition,
      job,
      this.successor,
      deferred,
      early
        ? () => {
            this.settling.add(run)
            this.freeSlot(run)
            this.slotFreed?.()
          }
        : undefined,
    )
    this.runs.set(job.id, run)
    if (deferred) this.waiting.push(run)
    else this.holding.add(run)
    void run.done.finally(() => {
      if (this.runs.get(job.id) === run) this.runs.delete(job.id)
      this.settling.delete(run)
      this.freeSlot(run)
      this.settledSinceSweep++
      this.slotFreed?.()
    })
  }

  private freeSlot(run: JobRun): void {
    if (this.holding.delete(run)) this.startWaiting()
  }

  /** Give free slots to prefetched runs, in delivery order; none once stopping (they are released). */
  private startWaiting(): void {
    const { concurrency } = this.definition.options
    while (this.holding.size < concurrency && this.waiting.length > 0 && !this.stopLoop.signal.aborted) {
      const run = this.waiting.shift()!
      if (run.begin()) this.holding.add(run)
    }
  }

  private sweeping = false

  /** Retention: prune finished jobs past their count/age limits in bounded batches. */
  async sweep(force = false): Promise<void> {
    if (this.sweeping || (!force && this.settledSinceSweep === 0)) return
    this.sweeping = true
    this.settledSinceSweep = 0
    const { engine } = this
    const { removeOnComplete, removeOnFail, removeOnCancel } = this.definition.options
    const policies = [
      ['completed', removeOnComplete],
      ['failed', removeOnFail],
      ['cancelled', removeOnCancel],
    ] as const
    try {
      for (const [status, policy] of policies) {
        if (policy.keep === null && policy.maxAgeMs === null) continue
        for (let round = 0; round < 100; round++) {
          const removed = await engine.adapters.storage.prune(engine.ns, this.queue, {
            status,
            keep: policy.keep,
            maxAgeMs: policy.maxAgeMs,
            limit: 500,
          })
          if (removed < 500) break
        }
      }
    } catch (error) {
      engine.events.emit('error', { error, where: `retention of ${this.queue}` })
    } finally {
      this.sweeping = false
    }
  }
}
