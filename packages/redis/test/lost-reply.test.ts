import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { countKeys, deleteKeys, newJob, REDIS_URL, randomNs, randomPrefix, requireRedis } from './helpers.js'

const available = await requireRedis(REDIS_URL)

/** A Buffer seen as a plain Uint8Array (Node 20's Buffer typings and TypeScript 5.9 disagree). */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * A TCP proxy on 127.0.0.1 in front of the Redis at REDIS_URL that can lose one reply: once armed with a
 * marker, the first connection that sends bytes containing it is cut (both sides) as soon as the server
 * starts answering — the command ran, its caller never hears of it. ioredis reconnects and re-sends the
 * commands left without a reply.
 */
class ReplyLosingProxy {
  private armed: Buffer | null = null
  private lost: (() => void) | null = null
  private readonly sockets = new Set<Socket>()
  private constructor(private readonly server: Server) {}

  static async start(): Promise<ReplyLosingProxy> {
    const target = new URL(REDIS_URL)
    const server = createServer()
    const proxy = new ReplyLosingProxy(server)
    server.on('connection', (client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname)
      proxy.sockets.add(client).add(upstream)
      let victim = false
      client.on('data', (chunk: Buffer) => {
        if (proxy.armed && chunk.includes(proxy.armed)) {
          proxy.armed = null
          victim = true
        }
        upstream.write(bytes(chunk))
      })
      upstream.on('data', (chunk: Buffer) => {
        if (!victim) {
          client.write(bytes(chunk))
          return
        }
        client.destroy()
        upstream.destroy()
        proxy.lost?.()
      })
      const close = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on('error', close).on('close', close)
      upstream.on('error', close).on('close', close)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return proxy
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }

  /** Lose the reply to the next command whose bytes contain `marker`; resolves once it is lost. */
  loseReplyTo(marker: string): Promise<void> {
    this.armed = Buffer.from(marker)
    return new Promise((resolve) => {
      this.lost = resolve
    })
  }

  close(): void {
    for (const s of this.sockets) s.destroy()
    this.server.close()
  }
}

describe.skipIf(!available)('a script whose reply is lost is answered again, not run again', () => {
  const prefix = randomPrefix('lost')
  const admin = new Redis(REDIS_URL, { lazyConnect: true })
  admin.on('error', () => {})
  let proxy: ReplyLosingProxy
  let a: ReturnType<typeof redisAdapter>
  const request = { workerId: 'w-lost', leaseMs: 60_000 }
  let n = 0
  const queue = () => `lost${++n}`

  beforeAll(async () => {
    proxy = await ReplyLosingProxy.start()
    a = redisAdapter({ url: proxy.url }, { prefix })
    await a.open?.()
  })
  afterAll(async () => {
    await a?.close?.()
    proxy?.close()
    await deleteKeys(admin, prefix)
    expect(await countKeys(admin, prefix)).toBe(0)
    admin.disconnect()
  })

  it('claim: the re-sent call returns the jobs the first run claimed and claims no more', async () => {
    const ns = randomNs()
    const q = queue()
    const jobs = Array.from({ length: 4 }, () => newJob({ queue: q }))
    await a.broker.addBulk(ns, jobs)
    const losing = proxy.loseReplyTo(`:${q}`)
    const got = await a.broker.claim(ns, q, { ...request, limit: 2 })
    await losing
    // Before: the re-send claimed jobs 3 and 4, and 1 and 2 stayed active under tokens nobody held until
    // their lease expired.
    expect(got.map((j) => j.id)).toEqual([jobs[0]!.id, jobs[1]!.id])
    expect(await a.storage.countJobs(ns, q)).toMatchObject({ active: 2, waiting: 2 })
    for (const job of got) {
      const stored = await a.storage.getJob(ns, job.id)
      expect(stored).toMatchObject({ status: 'active', token: job.token, attempts: 1, workerId: 'w-lost' })
      expect(job).toMatchObject({ status: 'active', attempts: 1, lockExpiresAt: stored!.lockExpiresAt })
    }
    expect(await a.broker.complete(ns, got[0]!.id, got[0]!.token!, 'ok')).toBe(true)
  })

  it('complete: the re-sent call reports the completion the first run made, instead of rejecting it', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const losing = proxy.loseReplyTo(`:${q}`)
    // Before: the re-send found the job completed (token cleared) and answered false (lease lost).
    expect(await a.broker.complete(ns, job!.id, job!.token!, { v: 1 })).toBe(true)
    await losing
    expect(await a.storage.getJob(ns, job!.id)).toMatchObject({ status: 'completed', result: { v: 1 } })
  })

  it('completeAndClaim: the re-sent call answers the completion and the successors the first run claimed', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const next = Array.from({ length: 3 }, () => newJob({ queue: q }))
    await a.broker.addBulk(ns, next)
    const losing = proxy.loseReplyTo(`:${q}`)
    const outcome = await a.broker.completeAndClaim!(ns, job!.id, job!.token!, 'done', {
      ...request,
      limit: 2,
    })
    await losing
    expect(outcome.completed).toBe(true)
    expect(outcome.jobs.map((j) => j.id)).toEqual([next[0]!.id, next[1]!.id])
    expect(await a.storage.countJobs(ns, q)).toMatchObject({ completed: 1, active: 2, waiting: 1 })
  })
  it('fail: the re-sent call reports the failure the first run stored, instead of rejecting it', async () => {
    const ns = randomNs()
    const q = queue()
    await a.broker.add(ns, newJob({ queue: q }))
    const [job] = await a.broker.claim(ns, q, { ...request, limit: 1 })
    const losing = proxy.loseReplyTo(job!.token!)
    const error = { name: 'Error', message: 'boom' }
    // Before: the re-send found the lease cleared and answered false (lease lost).
    expect(await a.broker.fail(ns, job!.id, job!.token!, { error, retryDelayMs: 0 })).toBe(true)
    await losing
    expect(await a.storage.getJob(ns, job!.id)).toMatchObject({ status: 'waiting', attempts: 1 })
    // The marker answers only that token: a stale token is still rejected.
    expect(
      await a.broker.fail(ns, job!.id, job!.token!.replace(/^[^.]*/, 'stale'), { error, retryDelayMs: 0 }),
    ).toBe(false)
  })
})
