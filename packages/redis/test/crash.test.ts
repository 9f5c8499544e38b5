// Crash tests of issue 4 with real worker processes on the Redis at REDIS_URL, beyond the conformance
// suite's crash checks (which conformance.test.ts runs, SIGSTOP + late completion included):
// - SIGKILL of the worker running a job: another process starts it within lockTtlMs + 2 s and completes it,
//   and the record shows `stalled` then `completed`;
// - 2,000 jobs through 3 worker processes while a random one is SIGKILLed and replaced every few seconds;
// - cancelJob in this process aborts the handler in a worker process within 100 ms over pub/sub, and within
//   heartbeatMs (plus the renewal's round trip) when that worker's cancel subscription is cut.
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type JobRecord, OqronManager, OqronRuntime } from '@oqronkit/core'
import { CrashHarness, type WorkerSpec } from '@oqronkit/testkit/crash'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { deleteKeys, REDIS_URL, randomPrefix, requireRedis, sleep } from './helpers.js'

const available = await requireRedis(REDIS_URL)
const prefix = randomPrefix('crash')
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))
const fixture = fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url))

function adapter(exportName = 'redis'): WorkerSpec['adapter'] {
  return {
    module: fixture,
    export: exportName,
    options: { url: REDIS_URL, prefix },
    execArgv: ['--conditions=source', '--import', tsx, '--import', loader],
  }
}

/** A fresh namespace per test: `<project>/<environment>` is what the runtimes use as `ns`. */
function namespace() {
  const environment = `e-${randomBytes(4).toString('hex')}`
  return { project: 'crash', environment, ns: `crash/${environment}` }
}

let store: ReturnType<typeof redisAdapter>
let harness: CrashHarness

beforeAll(async () => {
  if (!available) return
  store = redisAdapter({ url: REDIS_URL }, { prefix })
  await store.open?.()
})

afterEach(async () => {
  await harness?.close()
})

afterAll(async () => {
  if (!available) return
  await store.close()
  const admin = new Redis(REDIS_URL)
  await deleteKeys(admin, prefix)
  admin.disconnect()
})

async function until<T>(probe: () => Promise<T | null | undefined | false>, what: string, ms = 30_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${harness.describe()}`)
    await sleep(100)
  }
}

describe.skipIf(!available)('redis: worker processes killed, frozen and cancelled', () => {
  it('SIGKILL of the worker running a job: another starts it within lockTtlMs + 2 s and completes it', async () => {
    harness = new CrashHarness()
    const { project, environment, ns } = namespace()
    const work = { heartbeatMs: 250, lockTtlMs: 1_500, stallIntervalMs: 250 }
    const base = { adapter: adapter(), queue: 'kill', project, environment, work }
    // A's run would last a minute; B's re-run of the same job lasts 100 ms (the job data sets no duration).
    const a = await harness.start({ ...base, name: 'A', durationMs: 60_000 })
    const jobId = 'kill-1'
    await a.add([{ jobId }])
    await harness.waitForStart(jobId, { worker: 'A' })
    await harness.start({ ...base, name: 'B', durationMs: 100 })

    const kill = a.kill()
    const started = await harness.waitForStart(jobId, { after: kill, timeoutMs: 60_000 })
    expect(started.worker).toBe('B')
    expect(started.at - kill.at).toBeLessThanOrEqual(work.lockTtlMs + 2_000)
    await harness.waitFor((e) => e.type === 'event' && e.name === 'completed' && e.jobId === jobId, {
      what: 'B to complete the recovered job',
    })
    const job = await until(async () => {
      const record = await store.storage.getJob(ns, jobId)
      return record?.status === 'completed' ? record : null
    }, 'the completed record')
    expect(job).toMatchObject({ stalledCount: 1, attempts: 2, result: { by: expect.stringMatching(/^B\//) } })
    const events = job.timeline.map((e) => e.event).filter((e) => e !== 'added')
    expect(events).toEqual(['active', 'stalled', 'active', 'completed'])
    expect(harness.executions(jobId)).toBe(2)
    expect(harness.completions(jobId)).toBe(1)
  })

  it('2,000 jobs through 3 worker processes, one SIGKILLed and replaced every few seconds: all complete once', async () => {
    harness = new CrashHarness()
    const { project, environment, ns } = namespace()
    const concurrency = 10
    const total = 2_000
    const spec = (name: string): WorkerSpec => ({
      adapter: adapter(),
      queue: 'churn',
      project,
      environment,
      name,
      // maxStalledCount above any plausible number of kills of one job: this test is about loss and
      // duplicates, not poison jobs.
      // removeOnComplete off: the store must still hold every job to show it completed (the default keeps
      // 1,000). ChildWorkOptions does not list it, but the child hands `work` to resolveWorkOptions whole.
      work: {
        heartbeatMs: 250,
        lockTtlMs: 1_500,
        stallIntervalMs: 250,
        concurrency,
        maxStalledCount: 50,
        ...{ removeOnComplete: false },
      },
    })
    const live = await Promise.all(['W1', 'W2', 'W3'].map((name) => harness.start(spec(name))))
    // 50..345 ms each: ~200 ms on average over 30 slots, so the run lasts long enough for several kills.
    const jobs = Array.from({ length: total }, (_, i) => ({
      jobId: `churn-${i}`,
      data: { durationMs: 50 + ((i * 37) % 300) },
    }))
    const outcomes = await live[0]!.add(jobs)
    expect(outcomes.every((o) => o === 'created')).toBe(true)

    let kills = 0
    let next = 4
    const deadline = Date.now() + 90_000
    const completed = async () => (await store.storage.countJobs(ns, 'churn')).completed
    while ((await completed()) < total && Date.now() < deadline) {
      await sleep(2_000 + Math.random() * 1_500)
      if ((await completed()) >= total) break
      const i = Math.floor(Math.random() * live.length)
      const victim = live[i]!
      victim.kill()
      kills++
      await victim.exited
      live[i] = await harness.start(spec(`W${next++}`))
    }
    const settleBy = Date.now() + 60_000
    while ((await completed()) < total && Date.now() < settleBy) await sleep(200)

    // Every job is in the store, completed, with exactly one completion in its timeline.
    const records: (JobRecord | null)[] = []
    for (let i = 0; i < total; i += 200) {
      records.push(
        ...(await Promise.all(jobs.slice(i, i + 200).map((j) => store.storage.getJob(ns, j.jobId)))),
      )
    }
    const notCompleted = records
      .filter((r) => r?.status !== 'completed')
      .map((r) => ({ id: r?.id, status: r?.status, workerId: r?.workerId, timeline: r?.timeline }))
    expect(notCompleted).toEqual([])
    const twice = records.filter((r) => r!.timeline.filter((e) => e.event === 'completed').length !== 1)
    expect(twice.map((r) => r!.id)).toEqual([])

    // From the children's reports: no completion accepted twice, duplicates bounded by what kills interrupt.
    const accepted = new Map<string, number>()
    for (const e of harness.events) {
      if (e.type === 'event' && e.name === 'completed')
        accepted.set(e.jobId!, (accepted.get(e.jobId!) ?? 0) + 1)
    }
    expect([...accepted].filter(([, n]) => n > 1)).toEqual([])
    expect(harness.events.filter((e) => e.type === 'event' && e.name === 'failed')).toEqual([])
    let duplicateStarts = 0
    for (const starts of harness.executionCounts().values()) duplicateStarts += Math.max(0, starts - 1)
    expect(kills).toBeGreaterThanOrEqual(2)
    expect(duplicateStarts).toBeLessThanOrEqual(kills * concurrency)
    const stalled = records.filter((r) => r!.stalledCount > 0).length
    // Every duplicate start is a recovered job; a recovered job may have been killed before it started again.
    expect(stalled).toBeGreaterThan(0)
  }, 180_000)

  describe('cancelJob from another process', () => {
    let runtime: OqronRuntime
    afterEach(async () => {
      await runtime?.stop()
    })

    async function cancelRunning(exportName: string, heartbeatMs: number) {
      harness = new CrashHarness()
      const { project, environment } = namespace()
      const work = { heartbeatMs, lockTtlMs: heartbeatMs * 5, stallIntervalMs: 500 }
      const worker = await harness.start({
        adapter: adapter(exportName),
        queue: 'cancel',
        project,
        environment,
        name: 'A',
        work,
        durationMs: 60_000,
      })
      runtime = new OqronRuntime()
      await runtime.init({
        adapters: redisAdapter({ url: REDIS_URL }, { prefix }),
        project,
        environment,
        shutdown: { signals: false },
      })
      const jobId = 'cancel-1'
      await worker.add(jobId)
      await harness.waitForStart(jobId, { worker: 'A' })
      // Away from the run's start, so the cancel lands at an arbitrary point of the heartbeat cycle.
      await sleep(300 + Math.random() * heartbeatMs)
      const at = Date.now()
      expect(await OqronManager.from(runtime.getConfig()).cancelJob(jobId)).toBe(true)
      const finished = await harness.waitFor((e) => e.type === 'finished' && e.jobId === jobId, {
        what: 'the handler to stop',
        timeoutMs: 30_000,
      })
      expect(finished).toMatchObject({ aborted: true, reason: 'JobCancelledError' })
      const job = await store.storage.getJob(`${project}/${environment}`, jobId)
      expect(job).toMatchObject({ status: 'cancelled', finishedAt: expect.any(Number) })
      return { elapsed: (finished as { at: number }).at - at, jobId }
    }

    it('aborts the handler in the worker process within 100 ms through pub/sub', async () => {
      // heartbeatMs far above the bound: only the pub/sub message can be this fast.
      const { elapsed } = await cancelRunning('redis', 10_000)
      expect(elapsed).toBeLessThanOrEqual(100)
    })

    it('aborts it within heartbeatMs when the worker hears no cancel messages', async () => {
      const heartbeatMs = 1_000
      const { elapsed, jobId } = await cancelRunning('redisWithoutCancelPubsub', heartbeatMs)
      // The renewal that answers `cancelled` comes at most heartbeatMs after the cancel; allow its round trip.
      expect(elapsed).toBeLessThanOrEqual(heartbeatMs + 100)
      await sleep(500)
      expect(harness.executions(jobId)).toBe(1)
    })
  })
})
