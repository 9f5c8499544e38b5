import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { JobRecord } from '@oqronkit/core'
import { CrashHarness, type WorkerSpec } from '@oqronkit/testkit/crash'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { freePorts, haveRedisServer, ping, waitFor, withNode } from './cluster.js'
import { newJob, randomNs, randomPrefix, sleep } from './helpers.js'

const run = promisify(execFile)
const inCi = process.env.CI === 'true' || process.env.CI === '1'
const canRun = haveRedisServer()
if (!canRun) {
  if (inCi) throw new Error('redis-server and redis-cli are needed for the Redis restart test under CI.')
  console.warn('redis-server/redis-cli not found: skipping the Redis restart test.')
}

const dir = mkdtempSync(join(tmpdir(), 'oqron-restart-'))
let port = 0

/** A Redis of this test's own, persisting every write (appendonly, fsync always) so a restart loses nothing. */
async function start(): Promise<void> {
  await run('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--daemonize',
    'yes',
    '--dir',
    dir,
    '--logfile',
    join(dir, 'redis.log'),
    '--pidfile',
    join(dir, 'redis.pid'),
  ])
  await waitFor(() => ping(port), `redis on ${port}`)
}

async function stop(): Promise<void> {
  await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown']).catch(() => undefined)
  await waitFor(async () => !(await ping(port)), `redis on ${port} to stop`)
}

afterAll(async () => {
  if (port)
    await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave']).catch(
      () => undefined,
    )
  rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(!canRun)('redis adapter across a Redis restart', () => {
  it('keeps accepted jobs, reloads its scripts, and its waiters and cancel listeners come back', async () => {
    port = (await freePorts())[0]!
    await start()
    const url = `redis://127.0.0.1:${port}`
    // Fast reconnects for the test; the defaults back off up to 5 s.
    const redisOptions = { retryStrategy: () => 50, maxRetriesPerRequest: null }
    const prefix = randomPrefix('restart')
    const worker = redisAdapter({ url, redisOptions }, { prefix })
    const other = redisAdapter({ url, redisOptions }, { prefix })
    await worker.open?.()
    await other.open?.()
    const ns = randomNs()
    const accepted = await worker.broker.addBulk(ns, [newJob(), newJob(), newJob({ delayMs: 4_000 })])
    const [running] = await worker.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 60_000 })
    const heard: string[] = []
    await worker.broker.onCancel(ns, (id) => heard.push(id))
    const signal = new AbortController().signal
    await worker.broker.waitForWork(ns, 'q', 30_000, signal)

    await stop()
    // While Redis is down a waiting worker stays parked (no crash, no busy loop)...
    const waiting = worker.broker.waitForWork(ns, 'q', 30_000, signal)
    await sleep(200)
    await start()
    // ...and is woken once its pub/sub connection is back, since a message may have been lost meanwhile.
    await waiting

    // Every accepted job survived; the running job's lease is intact, so its worker finishes it.
    for (const { job } of accepted) expect(await other.storage.getJob(ns, job!.id)).not.toBeNull()
    expect(await worker.broker.complete(ns, running!.id, running!.token!, 'after restart')).toBe(true)
    // The restarted server had an empty script cache: ioredis answered NOSCRIPT by sending the script itself.
    const stats = await withNode(port, (node) => node.info('commandstats'))
    expect(stats).toMatch(/cmdstat_eval:calls=[1-9]/)
    const rest = await worker.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 60_000 })
    expect(rest.map((j) => j.id)).toEqual([accepted[1]!.job!.id])
    // The delayed job (4 s, long enough to outlast the restart on a loaded machine) comes due after it.
    let delayed: Awaited<ReturnType<typeof worker.broker.claim>> = []
    for (let tries = 0; delayed.length === 0 && tries < 100; tries++) {
      await sleep(100)
      delayed = await worker.broker.claim(ns, 'q', { workerId: 'w', limit: 5, leaseMs: 60_000 })
    }
    expect(delayed.map((j) => j.id)).toEqual([accepted[2]!.job!.id])

    // Wake-ups and cancellations flow again on the re-subscribed connections.
    const idle = worker.broker.waitForWork(ns, 'q', 30_000, signal)
    await sleep(50)
    const started = performance.now()
    const { job } = await other.broker.add(ns, newJob())
    await idle
    expect(performance.now() - started).toBeLessThan(2_000)
    await other.broker.cancel(ns, job!.id)
    await vi.waitFor(() => expect(heard).toEqual([job!.id]))

    await worker.close()
    await other.close()
  })
})

describe.skipIf(!canRun)('worker processes across a Redis restart', () => {
  it('an appendonly Redis SIGKILLed and restarted under running workers: they reconnect and every job completes', async () => {
    if (!port) {
      port = (await freePorts())[0]!
      await start()
    }
    const url = `redis://127.0.0.1:${port}`
    const prefix = randomPrefix('restart-engine')
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))
    const harness = new CrashHarness()
    const store = redisAdapter({ url }, { prefix })
    try {
      // The children use the adapter's default reconnect settings.
      const spec = (name: string): WorkerSpec => ({
        adapter: {
          module: fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url)),
          export: 'redis',
          options: { url, prefix },
          execArgv: ['--conditions=source', '--import', tsx, '--import', loader],
        },
        queue: 'restart',
        project: 'restart',
        environment: 'engine',
        name,
        work: {
          heartbeatMs: 250,
          lockTtlMs: 1_500,
          stallIntervalMs: 250,
          concurrency: 5,
          maxStalledCount: 50,
          ...{ removeOnComplete: false },
        },
      })
      const [w1] = await Promise.all([harness.start(spec('W1')), harness.start(spec('W2'))])
      const total = 400
      const ids = Array.from({ length: total }, (_, i) => `r-${i}`)
      await w1!.add(ids.map((jobId) => ({ jobId, data: { durationMs: 60 } })))
      await harness.waitFor((e) => e.type === 'event' && e.name === 'completed', {
        what: 'a first completion',
      })

      // A crash of Redis itself: SIGKILL, no shutdown save. appendfsync always keeps every acknowledged write.
      const pid = Number(readFileSync(join(dir, 'redis.pid'), 'utf8'))
      process.kill(pid, 'SIGKILL')
      await waitFor(async () => !(await ping(port)), `redis on ${port} to die`)
      const restartedAt = Date.now()
      await sleep(500)
      await start()

      const ns = 'restart/engine'
      await store.open?.()
      await vi.waitFor(
        async () => expect((await store.storage.countJobs(ns, 'restart')).completed).toBe(total),
        { timeout: 60_000, interval: 200 },
      )
      const records = (await Promise.all(ids.map((id) => store.storage.getJob(ns, id)))) as JobRecord[]
      expect(records.filter((r) => r?.status !== 'completed').map((r) => r?.id)).toEqual([])
      const twice = records.filter((r) => r.timeline.filter((e) => e.event === 'completed').length !== 1)
      expect(twice.map((r) => r.id)).toEqual([])
      // Both processes lived through it and went on working on the restarted server.
      for (const name of ['W1', 'W2']) {
        const worker = harness.workers.find((w) => w.name === name)!
        expect(worker.process.exitCode).toBeNull()
        expect(
          harness.events.some((e) => e.type === 'started' && e.worker === name && e.at > restartedAt),
        ).toBe(true)
      }
      const accepted = new Map<string, number>()
      for (const e of harness.events) {
        if (e.type === 'event' && e.name === 'completed')
          accepted.set(e.jobId!, (accepted.get(e.jobId!) ?? 0) + 1)
      }
      expect([...accepted].filter(([, n]) => n > 1)).toEqual([])
    } finally {
      await harness.close()
      await store.close()
    }
  }, 120_000)
})
