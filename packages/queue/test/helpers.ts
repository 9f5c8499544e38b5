import { FreezableTimers, type JobContext, OqronRuntime, type WorkOptions } from '@oqronkit/core'
import { afterEach } from 'vitest'
import { queue } from '../src/index.js'

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

/**
 * A one-slot queue on `rt` whose handler records each job it starts (`started`), holds job `a` until `gate`
 * opens, then runs `then`: the setup of tests about what happens beside (or after) a busy slot.
 */
export function oneSlotHeldOnA(
  rt: OqronRuntime,
  name: string,
  work: WorkOptions = {},
  then: (ctx: JobContext) => Promise<void> = async () => {},
) {
  const gate = deferred()
  const started: string[] = []
  const q = queue({
    ...work,
    name,
    runtime: rt,
    concurrency: 1,
    handler: async (ctx) => {
      started.push(ctx.id)
      if (ctx.id === 'a') await gate.promise
      await then(ctx)
    },
  })
  return { q, gate, started }
}
