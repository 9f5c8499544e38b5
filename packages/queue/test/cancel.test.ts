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
