import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
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
