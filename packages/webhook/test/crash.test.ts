import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { OqronManager, OqronRuntime } from '@oqronkit/core'
import { redisAdapter } from '@oqronkit/redis'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { type DeliveryData, webhook } from '../src/index.js'
import { fakeLookup, loopbackOnlyConnector, quiet, testServer, waitFor } from './helpers.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

async function redisReachable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
    return true
  } catch (error) {
    const message = `Redis is not reachable at ${REDIS_URL} (${(error as Error).message})`
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${message}; CI needs it.`)
    console.warn(`${message}: skipping the webhook crash test. Start redis-server or set REDIS_URL.`)
    return false
  } finally {
    probe.disconnect()
  }
}

const available = await redisReachable()
const prefix = `oqtest-webhook-${randomBytes(4).toString('hex')}`
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

function startWorker(port: number): { child: ChildProcess; ready: Promise<void>; exited: Promise<unknown> } {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  const child = fork(fileURLToPath(new URL('./fixtures/crash-worker.ts', import.meta.url)), [], {
    execArgv: [
      '--conditions=source',
      '--import',
      tsx,
      '--import',
      new URL('../../../scripts/text-loader.mjs', import.meta.url).href,
    ],
    env: { ...process.env, REDIS_URL, PREFIX: prefix, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  cleanups.push(async () => child.kill('SIGKILL'))
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)))
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  return { child, ready, exited }
}

describe.skipIf(!available)('a webhook worker process SIGKILLed mid-delivery (Redis)', () => {
  it('is redelivered by another node with the same webhook-id', async () => {
    const admin = new Redis(REDIS_URL)
    cleanups.push(async () => {
      const keys = await admin.keys(`${prefix}*`)
      if (keys.length > 0) await admin.del(...keys)
      admin.disconnect()
    })
    const srv = await testServer((_req, i) => (i === 0 ? 'hang' : { status: 200, body: 'ok' }))
    cleanups.push(srv.close)
    const worker = startWorker(srv.port)
    await worker.ready

    // This process only fires, until the worker is dead; then a runtime here takes over delivery.
    const producer = new OqronRuntime()
    cleanups.push(() => producer.stop())
    const hook = webhook({
      name: 'crash',
      runtime: producer,
      worker: false,
      endpoints: [{ id: 'ep', url: srv.url() }],
    })
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    await producer.init({ adapters, logger: quiet, shutdown: { signals: false } })
    const [delivery] = await hook.fire('order.shipped', { orderId: 'o_9' })
    await waitFor(() => srv.received.length === 1, 20_000, 'the worker to start the delivery')
    worker.child.kill('SIGKILL')
    expect(await worker.exited).toBe('SIGKILL')

    const { connector, asked } = loopbackOnlyConnector()
    const rescuer = new OqronRuntime()
    cleanups.push(() => rescuer.stop())
    webhook({
      name: 'crash',
      runtime: rescuer,
      heartbeatMs: 200,
      lockTtlMs: 1_000,
      allowPrivateNetworks: true,
      lookup: fakeLookup({}),
      connect: connector,
      endpoints: [{ id: 'ep', url: srv.url() }],
    })
    await rescuer.init({ adapters, logger: quiet, workerId: 'rescuer', shutdown: { signals: false } })

    const mgr = OqronManager.from(producer.getConfig())
    const job = await waitFor(
      async () => {
        const j = await mgr.getJob<DeliveryData>(delivery!.id)
        return j?.status === 'completed' ? j : null
      },
      30_000,
      'the delivery to be recovered and completed',
    )
    expect(srv.received).toHaveLength(2)
    expect(srv.received[1]!.headers['webhook-id']).toBe(delivery!.webhookId)
    expect(srv.received[0]!.headers['webhook-id']).toBe(delivery!.webhookId)
    expect(srv.received[1]!.body).toBe(srv.received[0]!.body)
    expect(job.stalledCount).toBe(1)
    expect(job.attempts).toBe(2)
    const events = job.timeline.map((e) => e.event)
    expect(events).toContain('stalled')
    expect(job.timeline.filter((e) => e.event === 'active').map((e) => e.workerId)).toEqual([
      'child',
      'rescuer',
    ])
    expect(asked.map((t) => t.address)).toEqual(['127.0.0.1'])
  })
})
