import assert from 'node:assert/strict'
import { CrashHarness } from '../crash/harness.js'
import type { WorkerSpec } from '../crash/protocol.js'
import type { AdapterContractOptions, CheckContext, ContractCheck, ResolvedCapabilities } from '../types.js'
import { randomId, waitUntil } from '../util.js'

const LOCK_TTL_MS = 1_500
const STALL_INTERVAL_MS = 250
/** Recovery must happen within lockTtlMs + scan delay; this bound only adds slack for a loaded machine. */
const RECOVERY_BOUND_MS = LOCK_TTL_MS + STALL_INTERVAL_MS + 20_000

const crossProcess = (_caps: ResolvedCapabilities, options: AdapterContractOptions): string | null => {
  if (!options.process) return 'no `process` option: the suite cannot build these adapters in a child process'
  if (options.process.crossProcess === false)
    return 'process.crossProcess: false (the backend is not shared between processes)'
  return null
}

function spec(t: CheckContext, name: string): WorkerSpec {
  const [project, environment] = t.ns.split('/') as [string, string]
  const { crossProcess: _ignored, ...adapter } = t.options.process!
  return {
    adapter,
    project,
    environment,
    queue: t.queue,
    name,
    work: { heartbeatMs: 250, lockTtlMs: LOCK_TTL_MS, stallIntervalMs: STALL_INTERVAL_MS },
  }
}

async function twoWorkers(t: CheckContext, durationMs: number) {
  const harness = new CrashHarness()
  t.defer(() => harness.close())
  const a = await harness.start(spec(t, 'A'))
  const jobId = randomId('crash')
  await a.add([{ jobId, data: { durationMs } }])
  await harness.waitForStart(jobId, { worker: 'A', what: `worker A to start ${jobId}` })
  const b = await harness.start(spec(t, 'B'))
  return { harness, a, b, jobId }
}

export const crashChecks: ContractCheck[] = [
  {
    id: 'crash.sigkill',
    title:
      'a worker process killed mid-job (SIGKILL): another process re-runs the job within lockTtlMs + scan delay',
    skip: crossProcess,
    timeoutMs: 120_000,
    async run(t) {
      const { harness, a, jobId } = await twoWorkers(t, 60_000)
      // The re-run must not last a minute: the job data only decides A's run, so re-add is not needed; the
      // harness default duration applies to nothing here, and B's run lasts as long as the data says.
      const kill = a.kill()
      const started = await harness.waitForStart(jobId, { after: kill, timeoutMs: RECOVERY_BOUND_MS })
      assert.equal(started.worker, 'B')
      const recovery = harness.recoveryMs(jobId, kill)!
      assert.ok(recovery <= RECOVERY_BOUND_MS, `recovered after ${recovery} ms`)
      assert.equal(harness.executions(jobId), 2, `handler starts:\n${harness.describe()}`)
      const job = await waitUntil(async () => t.adapters.storage.getJob(t.ns, jobId), {
        what: 'the job record',
      })
      assert.equal(job.stalledCount, 1, 'the recovery is recorded on the job')
      assert.equal(job.status, 'active', 'B runs it now')
    },
  },
  {
    id: 'crash.sigstop',
    title: 'a frozen worker process (SIGSTOP) loses its job; after SIGCONT its late completion is refused',
    skip: crossProcess,
    timeoutMs: 120_000,
    async run(t) {
      const { harness, a, jobId } = await twoWorkers(t, 2_500)
      const stop = a.pause()
      t.defer(() => a.resume())
      await harness.waitForStart(jobId, { after: stop, timeoutMs: RECOVERY_BOUND_MS })
      await harness.waitFor(
        (e) => e.type === 'event' && e.name === 'completed' && e.jobId === jobId && e.worker === 'B',
        {
          what: 'B to complete the recovered job',
        },
      )
      a.resume()
      await harness.waitFor(
        (e) => e.type === 'event' && e.name === 'lease-lost' && e.jobId === jobId && e.worker === 'A',
        {
          what: "A's late write to be refused after SIGCONT",
        },
      )
      assert.equal(
        harness.completions(jobId),
        1,
        `exactly one completion is accepted:\n${harness.describe()}`,
      )
      const job = await t.adapters.storage.getJob(t.ns, jobId)
      assert.equal(job?.status, 'completed')
      assert.match(String((job?.result as { by?: string } | null)?.by), /^B\//, 'the result is the re-run’s')
    },
  },
]
