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
