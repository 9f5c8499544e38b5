import { realTimers, type TimerHost } from '@oqronkit/core'

/**
 * A `TimerHost` that can be frozen, the in-process stand-in for `SIGSTOP`: while frozen no heartbeat, stall
 * scan or retention tick of the runtime fires (its handlers and its adapter's own I/O go on). Timeouts due
 * while frozen fire at `thaw()`, as after `SIGCONT`; missed interval ticks collapse into one.
 */
export class FreezableTimers implements TimerHost {
  private frozen = false
  private readonly missed = new Set<() => void>()

  constructor(private readonly base: TimerHost = realTimers) {}

  get isFrozen(): boolean {
    return this.frozen
  }

  freeze(): void {
    this.frozen = true
  }

  thaw(): void {
    if (!this.frozen) return
    this.frozen = false
    const due = [...this.missed]
    this.missed.clear()
    for (const fn of due) fn()
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const entry = { fn, handle: null as unknown }
    entry.handle = this.base.setTimeout(() => this.fire(fn), ms)
    return entry
  }

  clearTimeout(handle: unknown): void {
    const entry = handle as { fn: () => void; handle: unknown } | null
    if (!entry) return
    this.missed.delete(entry.fn)
    this.base.clearTimeout(entry.handle)
  }

  setInterval(fn: () => void, ms: number): unknown {
    const entry = { fn, handle: null as unknown }
    entry.handle = this.base.setInterval(() => this.fire(fn), ms)
    return entry
  }

  clearInterval(handle: unknown): void {
    const entry = handle as { fn: () => void; handle: unknown } | null
    if (!entry) return
    this.missed.delete(entry.fn)
    this.base.clearInterval(entry.handle)
  }

  private fire(fn: () => void): void {
    if (this.frozen) this.missed.add(fn)
    else fn()
  }
}
