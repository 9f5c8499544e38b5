import { fileURLToPath } from 'node:url'
import { CrashHarness } from '@oqronkit/testkit/crash'
import { afterEach, describe, expect, it } from 'vitest'

// Memory is not shared between processes, so one child runs two runtimes (A and B) on one memoryAdapter
// and the harness freezes one of them; durable adapters run one runtime per process (see runAdapterContract).
const adapter = {
  module: fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url)),
  export: 'memory',
}
const work = { heartbeatMs: 150, lockTtlMs: 900, stallIntervalMs: 150 }

let harness: CrashHarness
afterEach(() => harness.close())

describe('crash harness on memory (two runtimes in one child process)', () => {
  it('a frozen runtime loses its job to the other, which re-runs it; the late completion is refused', async () => {
    harness = new CrashHarness()
    const worker = await harness.start({ adapter, queue: 'crash', runtimes: ['A', 'B'], work })
    await worker.add([{ jobId: 'j1', data: { durationMs: 2_000 } }])
    const first = await harness.waitForStart('j1')
    const freeze = await worker.freeze(first.runtime)
    const second = await harness.waitForStart('j1', { after: freeze })
    expect(second.runtime).not.toBe(first.runtime)
    expect(second.attempt).toBe(2)
    // A liveness bound (lockTtlMs + scan delay + slack for a loaded machine), not a timing assertion.
    expect(harness.recoveryMs('j1', freeze)).toBeLessThan(work.lockTtlMs + work.stallIntervalMs + 20_000)
    await harness.waitFor(
      (e) => e.type === 'event' && e.name === 'lease-lost' && e.jobId === 'j1' && e.runtime === first.runtime,
      { what: "the frozen runtime's late completion to be refused" },
    )
    await harness.waitFor(
      (e) => e.type === 'event' && e.name === 'completed' && e.jobId === 'j1' && e.runtime === second.runtime,
      { what: 'the re-run to complete' },
    )
    await worker.thaw(first.runtime)
    expect(harness.executions('j1')).toBe(2)
    expect(harness.completions('j1')).toBe(1)
    expect(harness.events.some((e) => e.type === 'event' && e.name === 'stalled' && e.jobId === 'j1')).toBe(
      true,
    )
    await worker.stop()
    expect((await worker.exited).code).toBe(0)
  })

  it('SIGKILL ends the child mid-job and is recorded; nothing recovers a memory job in a dead process', async () => {
    harness = new CrashHarness()
    const worker = await harness.start({ adapter, queue: 'crash', work })
    await worker.add('k1')
    await worker.add([{ jobId: 'k2', data: { durationMs: 60_000 } }])
    await harness.waitFor((e) => e.type === 'event' && e.name === 'completed' && e.jobId === 'k1', {
      what: 'k1 to complete',
    })
    await harness.waitForStart('k2')
    const kill = worker.kill()
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect(harness.interruptions).toEqual([kill])
    expect(harness.executionCounts()).toEqual(
      new Map([
        ['k1', 1],
        ['k2', 1],
      ]),
    )
    expect(harness.recoveryMs('k2', kill)).toBeNull()
  })

  it('SIGSTOP freezes the whole child and SIGCONT lets it finish its job', async () => {
    harness = new CrashHarness()
    const worker = await harness.start({
      adapter,
      queue: 'crash',
      work: { heartbeatMs: 500, lockTtlMs: 30_000 },
    })
    await worker.add([{ jobId: 's1', data: { durationMs: 300 } }])
    await harness.waitForStart('s1')
    worker.pause()
    const seen = harness.events.length
    await new Promise((r) => setTimeout(r, 800))
    expect(harness.events.length).toBe(seen)
    worker.resume()
    await harness.waitFor((e) => e.type === 'event' && e.name === 'completed' && e.jobId === 's1', {
      what: 's1 to complete',
    })
    expect(harness.executions('s1')).toBe(1)
    expect(harness.completions('s1')).toBe(1)
  })
})
