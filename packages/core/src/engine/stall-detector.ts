import type { EngineContext } from './types.js'

/**
 * Finds jobs of one queue whose lease expired (their worker died or froze) and has the broker re-deliver
 * them (`stalled`, `stalledCount + 1`) or fail them as poison past `maxStalledCount`. Every node runs one
 * per consumed queue; the broker's scan is atomic, so each expired lease is acted on once.
 */
export class StallDetector {
  private handle: unknown = null
  private scanning = false

  constructor(
    private readonly engine: EngineContext,
    private readonly queue: string,
    private readonly maxStalledCount: number,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.handle = this.engine.timers.setInterval(() => void this.scan(), this.intervalMs)
  }

  stop(): void {
    if (this.handle !== null) this.engine.timers.clearInterval(this.handle)
    this.handle = null
  }

  /** One pass, in batches of 100 until no expired lease is left. */
  async scan(): Promise<number> {
    if (this.scanning) return 0
    this.scanning = true
    const { engine } = this
    let total = 0
    try {
      for (;;) {
        const outcomes = await engine.adapters.broker.recoverStalled(engine.ns, this.queue, {
          maxStalledCount: this.maxStalledCount,
          limit: 100,
        })
        total += outcomes.length
        for (const outcome of outcomes) {
          engine.events.emit('stalled', outcome)
          if (outcome.action === 'failed') {
            engine.events.emit('failed', { job: outcome.job, error: outcome.job.error!, final: true })
          }
        }
        if (outcomes.length < 100) break
      }
    } catch (error) {
      engine.events.emit('error', { error, where: `stall scan of ${this.queue}` })
    } finally {
      this.scanning = false
    }
    return total
  }
}
