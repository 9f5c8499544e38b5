import type { StorageAdapter } from '@oqronkit/core'

export interface RateLimit {
  /** Requests allowed per `intervalMs` (also the largest burst). */
  max: number
  /** @default 1000 */
  intervalMs?: number
}

const CAS_TRIES = 16
/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * A GCRA limiter (a leaky bucket that stores one number, the theoretical arrival time) kept in storage
 * with compare-and-set, so the limit holds across all nodes together. `acquire` waits, abortably, until a
 * request may go.
 */
export async function acquireRate(
  storage: StorageAdapter,
  ns: string,
  key: string,
  limit: Required<RateLimit>,
  signal: AbortSignal,
  now: () => number = Date.now,
): Promise<void> {
  const emission = limit.intervalMs / limit.max
  for (let tries = 0; ; ) {
    signal.throwIfAborted()
    const tat = await storage.getState<number>(ns, key)
    const t = now()
    const next = Math.max(tat ?? t, t) + emission
    const allowAt = next - limit.intervalMs
    if (allowAt > t) {
      // Node fires a longer timer after 1 ms; wait in steps it can take, re-checking after each.
      await sleep(Math.min(allowAt - t, MAX_TIMER_MS), signal)
      continue
    }
    if (await storage.compareAndSetState(ns, key, tat, next)) return
    // Lost a race with another node: re-read. Past a few tries, back off a little so CAS storms settle.
    if (++tries > CAS_TRIES) await sleep(emission, signal)
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
