import { randomBytes } from 'node:crypto'
import type { TestClock } from './types.js'

/** A short random id: letters and digits only, valid in every namespace, queue and key. */
export function randomId(prefix = ''): string {
  return `${prefix}${randomBytes(6).toString('hex')}`
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface WaitOptions {
  /** Give up after this long, ms. @default 10000 */
  timeoutMs?: number
  /** Pause between tries, ms. @default 25 */
  intervalMs?: number
  /** Named in the error when the condition never held. */
  what?: string
}

/**
 * Poll `probe` until it returns a value other than `undefined`, `null` or `false`, and return that value.
 * A liveness bound, not a timing assertion: the timeout is generous and only says "never happened".
 */
export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const { timeoutMs = 10_000, intervalMs = 25, what = 'condition' } = options
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== null && value !== false)
      return value as Exclude<T, undefined | null | false>
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`)
    await sleep(intervalMs)
  }
}

/** A clock at real time plus an offset that `advance()` grows. */
export function testClock(): TestClock {
  let offset = 0
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advance(ms) takes a non-negative number')
      offset += ms
    },
  }
}

/** Resolves to `'timeout'` if `promise` has not settled within `ms`, else to its value. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
