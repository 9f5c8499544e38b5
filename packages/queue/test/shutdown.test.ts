import { OqronManager, realTimers, type TimerHost } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { describe, expect, it } from 'vitest'
import { queue } from '../src/index.js'
import { deferred, oneSlotHeldOnA, quiet, runtimesStoppedAfterEach, waitFor } from './helpers.js'

const node = runtimesStoppedAfterEach()

/**
 * A memory adapter whose first `completeAndClaim` is applied at once but answered only when `reply` resolves;
 * `inFlight` resolves when it has been applied.
 */
function lateFirstCompleteAndClaim() {
  const adapters = memoryAdapter()
  const inFlight = deferred()
  const reply = deferred()
  const completeAndClaim = adapters.broker.completeAndClaim!.bind(adapters.broker)
  let calls = 0
  adapters.broker.completeAndClaim = async (...args: Parameters<typeof completeAndClaim>) => {
    const outcome = await completeAndClaim(...args)
    if (calls++ === 0) {
      inFlight.resolve()
      await reply.promise
    }
    return outcome
  }
  return { adapters, inFlight, reply }
}

/**
 * A queue of concurrency 1 on `lateFirstCompleteAndClaim`, its runtime shut down with `timeoutMs`: `a` runs,
 * `b` is added while it does, and `a`'s complete-and-claim (applied: `a` completed, `b` claimed) is on its way,
 * its reply held until `reply` resolves. `then` runs in the handler after `a`'s gate (for every job).
 */
async function successorOnItsWay(
  name: string,
  timeoutMs: number,
  then: (ctx: { id: string; signal: AbortSignal }) => Promise<void> = async () => {},
) {
  const { adapters, inFlight, reply } = lateFirstCompleteAndClaim()
  const rt = node()
  const { q, gate, started } = oneSlotHeldOnA(rt, name, {}, then)
  await rt.init({ adapters, logger: quiet, shutdown: { signals: false, timeoutMs } })
  const mgr = OqronManager.from(rt.getConfig())
  await q.add({}, { jobId: 'a' })
  await waitFor(() => started.includes('a'))
  await q.add({}, { jobId: 'b' })
  gate.resolve()
  await inFlight.promise
  return { rt, mgr, reply, started }
}

describe('stop() while a completion that claims the next job is on its way', () => {
  it('drains the job that completion claimed, as it drains the others, instead of releasing it at once', async () => {
    const ended: { id: string; aborted: boolean }[] = []
    const { rt, mgr, reply, started } = await successorOnItsWay('stop-successor', 5_000, async (ctx) => {
      if (ctx.id !== 'a') await new Promise((r) => setTimeout(r, 100))
      ended.push({ id: ctx.id, aborted: ctx.signal.aborted })
    })
    // The reply of the first complete-and-claim arrives after stop() began.
    const stopping = rt.stop()
    await new Promise((r) => setTimeout(r, 20))
    reply.resolve()
    await stopping
    // `b` started in this runtime; stop() waits for it (well within the 5 s timeout) rather than aborting it
    // and giving it back to run again elsewhere.
    expect(started).toEqual(['a', 'b'])
    expect(ended).toEqual([
      { id: 'a', aborted: false },
      { id: 'b', aborted: false },
    ])
    expect((await mgr.getJob('a'))?.status).toBe('completed')
    expect((await mgr.getJob('b'))?.status).toBe('completed')
  })
})

describe('stop() past its timeout while a completion that claims the next job is on its way', () => {
  it('gives that job back instead of starting it after stop() returned', async () => {
    const { rt, mgr, reply, started } = await successorOnItsWay('stop-late-successor', 50)
    // The completion's reply is late past the shutdown timeout: stop() releases `a` (its completion was applied,
    // so that release is refused) and returns.
    await rt.stop()
    reply.resolve()
    await new Promise((r) => setTimeout(r, 50))
    // `b` was claimed for this runtime by that completion: it must not start in a stopped runtime, and must be
    // given back for another node at once rather than stay active until its lease runs out.
    expect(started).toEqual(['a'])
    const b = await mgr.getJob('b')
    expect(b?.status).toBe('waiting')
    expect(b?.attempts).toBe(0)
  })
})

/** A memory adapter whose first `complete` waits for `apply` before it acts; `sent` resolves when it is called. */
function heldFirstComplete() {
  const adapters = memoryAdapter()
  const sent = deferred()
  const apply = deferred()
  const complete = adapters.broker.complete.bind(adapters.broker)
  // Plain complete, so the hold applies to the completion.
  adapters.broker.completeAndClaim = undefined
  let calls = 0
  adapters.broker.complete = async (...args: Parameters<typeof complete>) => {
    if (calls++ === 0) {
      sent.resolve()
      await apply.promise
    }
    return complete(...args)
  }
  return { adapters, sent, apply }
}

describe('stop() past its timeout while a completion is on its way', () => {
  it('lets that completion land instead of giving the finished job back to run again', async () => {
    const { adapters, sent, apply } = heldFirstComplete()
    const rt = node()
    let runs = 0
    const q = queue({
      name: 'stop-settling',
      runtime: rt,
      handler: async () => {
        runs++
        return 'charged'
      },
    })
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false, timeoutMs: 20 } })
    const mgr = OqronManager.from(rt.getConfig())
    await q.add({}, { jobId: 'inv-1' })
    // The handler has returned; its completion has not reached the backend when the shutdown timeout passes.
    await sent.promise
    await rt.stop()
    apply.resolve()
    await waitFor(async () => (await mgr.getJob('inv-1'))?.status !== 'active', 2_000, 'the completion')
    const job = await mgr.getJob('inv-1')
    expect(job?.status).toBe('completed')
    expect(job?.result).toBe('charged')
    expect(job?.attempts).toBe(1)
    expect(runs).toBe(1)
  })
})

/** Timers that count the ones set and not yet cleared (a timeout that fired counts as cleared). */
function countingTimers() {
  const live = new Set<unknown>()
  const timers: TimerHost = {
    setTimeout(fn, ms) {
      const handle: unknown = realTimers.setTimeout(() => {
        live.delete(handle)
        fn()
      }, ms)
      live.add(handle)
      return handle
    },
    clearTimeout(handle) {
      live.delete(handle)
      realTimers.clearTimeout(handle)
    },
    setInterval(fn, ms) {
      const handle = realTimers.setInterval(fn, ms)
      live.add(handle)
      return handle
    },
    clearInterval(handle) {
      live.delete(handle)
      realTimers.clearInterval(handle)
    },
  }
  return { timers, live }
}

describe('stop() past its timeout with a handler that ignores its signal', () => {
  for (const guaranteedWorker of [true, false]) {
    it(`leaves none of the run's timers running (guaranteedWorker: ${guaranteedWorker})`, async () => {
      const { timers, live } = countingTimers()
      const rt = node()
      const started = deferred<AbortSignal>()
      const q = queue({
        name: `stop-stubborn-${guaranteedWorker}`,
        runtime: rt,
        guaranteedWorker,
        heartbeatMs: 50,
        lockTtlMs: 10_000,
        handler: async (ctx) => {
          started.resolve(ctx.signal)
          await new Promise(() => {}) // never returns, whatever its signal says
        },
      })
      await rt.init({
        adapters: memoryAdapter(),
        logger: quiet,
        timers,
        shutdown: { signals: false, timeoutMs: 20 },
      })
      const mgr = OqronManager.from(rt.getConfig())
      await q.add({}, { jobId: 'stubborn' })
      const signal = await started.promise
      await rt.stop()
      expect(signal.aborted).toBe(true)
      expect((await mgr.getJob('stubborn'))?.status).toBe('waiting')
      // The heartbeat (or the at-most-once deadline) of a run given back at shutdown is stopped with it.
      expect(live.size).toBe(0)
    })
  }
})

describe('stop() called while init() is still opening the adapters', () => {
  it('waits for init() and then stops the runtime, instead of throwing and leaving it running', async () => {
    const adapters = memoryAdapter()
    const opened = deferred()
    const slowOpen = { ...adapters, open: () => opened.promise }
    const rt = node()
    const ran: string[] = []
    queue({ name: 'stop-during-init', runtime: rt, handler: async (ctx) => void ran.push(ctx.id) })
    const initializing = rt.init({ adapters: slowOpen, logger: quiet, shutdown: { signals: false } })
    const stopping = rt.stop()
    opened.resolve()
    await initializing
    await stopping
    expect(rt.isRunning).toBe(false)
    // Stopped for good: nothing consumes any more, and the runtime can be started again.
    const other = node()
    const q = queue({ name: 'stop-during-init', runtime: other })
    await other.init({ adapters, logger: quiet, shutdown: { signals: false } })
    await q.add({}, { jobId: 'after-stop' })
    expect((await OqronManager.from(other.getConfig()).getJob('after-stop'))?.status).toBe('waiting')
    expect(ran).toEqual([])
    await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
    expect(rt.isRunning).toBe(true)
  })
})
