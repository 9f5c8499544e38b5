import { JobCancelledError, OqronManager, type OqronRuntime } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { describe, expect, it } from 'vitest'
import { queue } from '../src/index.js'
import { deferred, quiet, runtimesStoppedAfterEach, waitFor } from './helpers.js'

const node = runtimesStoppedAfterEach()

/** Every `cancelled` and `lease-lost` event of `rt`, in order. */
function recordCancelEvents(rt: OqronRuntime) {
  const seen: string[] = []
  rt.on('cancelled', (e) => seen.push(`cancelled ${e.jobId}`))
  rt.on('lease-lost', (e) => seen.push(`lease-lost ${e.jobId}`))
  return seen
}

describe('cancelJob on the node that runs the job', () => {
  it("emits one 'cancelled' event, not one from the manager and another from the broker's notification", async () => {
    const rt = node()
    const started = deferred<AbortSignal>()
    const q = queue({
      name: 'cancel-here',
      runtime: rt,
      handler: async (ctx) => {
        started.resolve(ctx.signal)
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      },
    })
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    const seen = recordCancelEvents(rt)
    await q.add({}, { jobId: 'c-1' })
    const signal = await started.promise
    expect(await OqronManager.from(rt.getConfig()).cancelJob('c-1')).toBe(true)
    await waitFor(() => signal.aborted)
    expect(signal.reason).toBeInstanceOf(JobCancelledError)
    // The broker's notification of the cancel (delivered before cancelJob resolves on memory) reaches this node
    // too; it must not be reported a second time.
    expect(seen).toEqual(['cancelled c-1'])
  })
})

/** A memory adapter whose `complete` and `fail` wait for `apply` before they act; `sent` resolves at the first. */
function heldSettles() {
  const adapters = memoryAdapter()
  const sent = deferred()
  const apply = deferred()
  const { broker } = adapters
  const complete = broker.complete.bind(broker)
  const fail = broker.fail.bind(broker)
  // Plain complete, so the hold applies to every completion.
  broker.completeAndClaim = undefined
  broker.complete = async (...args: Parameters<typeof complete>) => {
    sent.resolve()
    await apply.promise
    return complete(...args)
  }
  broker.fail = async (...args: Parameters<typeof fail>) => {
    sent.resolve()
    await apply.promise
    return fail(...args)
  }
  return { adapters, sent, apply }
}

describe('a cancel that lands while the settle is on its way', () => {
  for (const outcome of ['completes', 'throws'] as const) {
    it(`is a cancellation, not a lost lease or a stale write, when the handler ${outcome}`, async () => {
      const { adapters, sent, apply } = heldSettles()
      const rt = node()
      const q = queue({
        name: `cancel-settle-${outcome}`,
        runtime: rt,
        retries: { max: 3, baseDelay: 1, jitter: 0 },
        handler: async () => {
          if (outcome === 'throws') throw new Error('boom')
          return 'done'
        },
      })
      await rt.init({ adapters, logger: quiet, shutdown: { signals: false } })
      const seen = recordCancelEvents(rt)
      const mgr = OqronManager.from(rt.getConfig())
      await q.add({}, { jobId: 's-1' })
      await sent.promise
      expect(await mgr.cancelJob('s-1')).toBe(true)
      expect(rt.activeJobs).toBe(1)
      apply.resolve()
      // Without prefetch the run holds its slot until its settle has been judged.
      await waitFor(() => rt.activeJobs === 0, 5_000, 'the run to end')
      expect(seen).toEqual(['cancelled s-1'])
      expect(rt.staleWrites).toBe(0)
      const job = await mgr.getJob('s-1')
      expect(job?.status).toBe('cancelled')
    })
  }

  it('is a cancellation on the running node before its notification arrives (cancelled on another node)', async () => {
    const { adapters, sent, apply } = heldSettles()
    // Node A hears of no cancel: only the backend can tell it why its completion was refused.
    const deaf = {
      ...adapters,
      broker: Object.create(adapters.broker, { onCancel: { value: async () => async () => {} } }),
    }
    const a = node()
    const b = node()
    queue({ name: 'cancel-settle-remote', runtime: a, handler: async () => 'done' })
    const qb = queue({ name: 'cancel-settle-remote', runtime: b })
    await a.init({ adapters: deaf, logger: quiet, shutdown: { signals: false } })
    await b.init({ adapters, logger: quiet, shutdown: { signals: false } })
    const seen = recordCancelEvents(a)
    await qb.add({}, { jobId: 'r-1' })
    await sent.promise
    expect(await OqronManager.from(b.getConfig()).cancelJob('r-1')).toBe(true)
    apply.resolve()
    await waitFor(() => a.activeJobs === 0, 5_000, 'the run to end')
    expect(seen).toEqual([])
    expect(a.staleWrites).toBe(0)
    expect((await OqronManager.from(b.getConfig()).getJob('r-1'))?.status).toBe('cancelled')
  })
})
