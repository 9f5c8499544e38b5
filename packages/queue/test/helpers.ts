import { FreezableTimers, OqronRuntime } from '@oqronkit/core'
import { afterEach } from 'vitest'

/** Timers that can be frozen: while frozen no callback runs, as if the process were SIGSTOPped. */
export const freezableTimers = () => new FreezableTimers()

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

export const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * Call once at a test file's top level: returns `node()`, which makes a runtime that is stopped after each
 * test.
 */
export function runtimesStoppedAfterEach(): () => OqronRuntime {
  const runtimes: OqronRuntime[] = []
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((rt) => rt.stop()))
  })
  return () => {
    const rt = new OqronRuntime()
    runtimes.push(rt)
    return rt
  }
}
