/**
 * The timers the engine's own clocks use (heartbeats, stall scans, retention, shutdown timeout).
 * Tests inject one to freeze a runtime the way `SIGSTOP` would, without stopping its handlers.
 * Every timer the default host creates is `unref()`'d: no engine timer keeps a process alive.
 */
export interface TimerHost {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}

export const realTimers: TimerHost = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms)
    t.unref()
    return t
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout)
  },
}

/** Resolves after `ms` (an unref'd timer), or at once when `signal` aborts. */
export function sleep(timers: TimerHost, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      timers.clearTimeout(handle)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const handle = timers.setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

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
