import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PostgresAdapters, postgresAdapter } from '../src/index.js'
import { DATABASE_URL, dropSchema, newJob, randomSchema, runSuite, sleep } from './helpers.js'

/** A Buffer seen as a plain Uint8Array (Node 20's Buffer typings and TypeScript 5.9 disagree). */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/** ReadyForQuery: the server has finished (and committed) the statements sent before it. */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5])

/**
 * A TCP proxy on 127.0.0.1 in front of the PostgreSQL at DATABASE_URL that can lose one reply. Once armed
 * with a marker, the first statement whose Parse message contains it is let through, and from its Execute on
 * the server's answer is withheld; as soon as the server says it is ready for the next query (the statement
 * ran and committed) the connection is cut on both sides. The caller never hears of its statement.
 */
class ReplyLosingProxy {
  private armed: Buffer | null = null
  private lost: (() => void) | null = null
  readonly sockets = new Set<Socket>()
  constructor(private readonly server: Server) {}

  static async start(): Promise<ReplyLosingProxy> {
    const target = new URL(DATABASE_URL)
    const server = createServer()
    const proxy = new ReplyLosingProxy(server)
    server.on('connection', (client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname)
      proxy.sockets.add(client).add(upstream)
      // Client → server messages, read whole: the startup message (no type byte), then type + length.
      let pending: Buffer = Buffer.alloc(0)
      let startup = true
      let marked = false
      let withholding = false
      let held: Buffer = Buffer.alloc(0)
      client.on('data', (chunk: Buffer) => {
        upstream.write(bytes(chunk))
        pending = Buffer.concat([bytes(pending), bytes(chunk)])
        for (;;) {
          const head = startup ? 0 : 1
          if (pending.length < head + 4) break
          const size = head + pending.readUInt32BE(head)
          if (pending.length < size) break
          const type = startup ? '' : String.fromCharCode(pending[0]!)
          const message = pending.subarray(0, size)
          pending = pending.subarray(size)
          startup = false
          if (type === 'P' && proxy.armed && message.includes(proxy.armed)) {
            proxy.armed = null
            marked = true
          } else if (type === 'E' && marked) {
            withholding = true
          }
        }
      })
      upstream.on('data', (chunk: Buffer) => {
        if (!withholding) {
          client.write(bytes(chunk))
          return
        }
        held = Buffer.concat([bytes(held), bytes(chunk)])
        if (held.includes(READY_FOR_QUERY)) {
          client.destroy()
          upstream.destroy()
          proxy.lost?.()
        }
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
    const url = new URL(DATABASE_URL)
    url.hostname = '127.0.0.1'
    url.port = String((this.server.address() as { port: number }).port)
    return url.toString()
  }

  /** Lose the reply to the next statement whose bytes contain `marker`; resolves once it is lost. */
  loseReplyTo(marker: string): Promise<void> {
    this.armed = Buffer.from(marker)
    return new Promise((resolve) => {
      this.lost = resolve
    })
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    this.server.close()
  }
}

describe.runIf(runSuite)('a claim whose reply is lost gives its jobs back at once', () => {
  let proxy: ReplyLosingProxy
  let a: PostgresAdapters
  let schema: string
  let n = 0
  const ns = () => `lost-${++n}`
  const request = { workerId: 'w-lost', leaseMs: 60_000 }

  beforeAll(async () => {
    proxy = await ReplyLosingProxy.start()
    schema = randomSchema()
    // prepare: false, so every statement carries its text (the proxy's marker), not only its first run.
    a = postgresAdapter({ url: proxy.url }, { schema, prepare: false })
    await a.open()
  })
  afterAll(async () => {
    await a?.close()
    await proxy?.close()
    await dropSchema(schema)
  })

  test('claim: the committed claim is released (front of the queue, attempt not counted); other holders keep theirs', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q'))
    const [other] = await a.broker.claim(s, 'q', { ...request, limit: 1 })
    const lost = [newJob('q'), newJob('q'), newJob('q')]
    const later = newJob('q')
    await a.broker.addBulk(s, [...lost, later])
    const losing = proxy.loseReplyTo('jsonb_object_agg')
    await expect(a.broker.claim(s, 'q', { ...request, limit: 3 })).rejects.toThrow()
    await losing
    // The claim committed (3 taken, `later` left waiting), but nobody holds its tokens: without the
    // give-back they would stay active for the whole 60 s lease.
    const t0 = Date.now()
    let counts = await a.storage.countJobs(s, 'q')
    while (counts.waiting < 4 && Date.now() - t0 < 3_000) {
      await sleep(25)
      counts = await a.storage.countJobs(s, 'q')
    }
    expect(counts).toMatchObject({ waiting: 4, active: 1 })
    const stillHeld = await a.storage.getJob(s, other!.id)
    expect(stillHeld).toMatchObject({ status: 'active', token: other!.token })
    for (const job of lost) {
      const back = await a.storage.getJob(s, job.id)
      expect(back).toMatchObject({ status: 'waiting', attempts: 0, token: null, workerId: null })
      expect(back!.timeline.at(-1)).toMatchObject({ event: 'released', detail: 'claim reply lost' })
    }
    // Still at the front: the next claim takes them first, in order.
    const again = await a.broker.claim(s, 'q', { ...request, limit: 3 })
    expect(again.map((j) => j.id)).toEqual(lost.map((j) => j.id))
    expect(again.every((j) => j.attempts === 1)).toBe(true)
  })

  test('completeAndClaim: the successors it claimed are released; the completion stands', async () => {
    const s = ns()
    const first = newJob('q')
    await a.broker.add(s, first)
    const [running] = await a.broker.claim(s, 'q', { ...request, limit: 1 })
    expect(running!.id).toBe(first.id)
    const next = [newJob('q'), newJob('q'), newJob('q')]
    await a.broker.addBulk(s, next)
    const losing = proxy.loseReplyTo('jsonb_to_recordset')
    await expect(
      a.broker.completeAndClaim!(s, running!.id, running!.token!, { ok: 1 }, { ...request, limit: 2 }),
    ).rejects.toThrow()
    await losing
    const t0 = Date.now()
    let counts = await a.storage.countJobs(s, 'q')
    while (counts.waiting < 3 && Date.now() - t0 < 3_000) {
      await sleep(25)
      counts = await a.storage.countJobs(s, 'q')
    }
    expect(counts).toMatchObject({ completed: 1, waiting: 3, active: 0 })
    expect(await a.storage.getJob(s, first.id)).toMatchObject({ status: 'completed', result: { ok: 1 } })
  })
  test('close() after lost replies does not wait out its grace period for the cut connections', async () => {
    // postgres.js keeps a statement cut by a dropped link as its connection's current query, and
    // `end({ timeout })` waited the whole timeout (5 s) for that connection; the adapter waits only for its
    // own statements still running (none here).
    const t0 = performance.now()
    await a.close!()
    expect(performance.now() - t0).toBeLessThan(1_000)
  })
})
