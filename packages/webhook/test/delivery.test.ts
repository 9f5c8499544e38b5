import { OqronManager, OqronRuntime } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type DeliveryData,
  verifyWebhook,
  type WebhookOptions,
  WebhookVerificationError,
  webhook,
} from '../src/index.js'
import {
  fakeLookup,
  loopbackOnlyConnector,
  quiet,
  type Reply,
  sleep,
  testServer,
  waitFor,
} from './helpers.js'

const secret = `whsec_${Buffer.from('oqronkit-test-secret-0123456789').toString('base64')}`
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function server(reply: (index: number) => Reply) {
  const s = await testServer((_req, i) => reply(i))
  cleanups.push(s.close)
  return s
}

async function node(adapters = memoryAdapter()) {
  const rt = new OqronRuntime()
  cleanups.push(() => rt.stop())
  return {
    rt,
    adapters,
    init: () => rt.init({ adapters, logger: quiet, shutdown: { signals: false, timeoutMs: 1_000 } }),
  }
}

/** Loopback server, private networks allowed, no real DNS, and a connector that can only reach 127.0.0.1. */
function local(overrides: Partial<WebhookOptions> & Pick<WebhookOptions, 'name' | 'endpoints'>) {
  const connector = loopbackOnlyConnector()
  const options: WebhookOptions = {
    allowPrivateNetworks: true,
    lookup: fakeLookup({}),
    connect: connector.connector,
    retries: { max: 3, baseDelay: 200, jitter: 0 },
    ...overrides,
  }
  return { options, asked: connector.asked }
}

async function finished(mgr: OqronManager, id: string, timeoutMs = 15_000) {
  return waitFor(
    async () => {
      const job = await mgr.getJob<DeliveryData>(id)
      return job && ['completed', 'failed', 'cancelled'].includes(job.status) ? job : null
    },
    timeoutMs,
    `delivery ${id} to finish`,
  )
}

function attemptLogs(job: { timeline: { event: string; detail?: string }[] }) {
  return job.timeline
    .filter((e) => e.event === 'log' && e.detail?.includes('{"attempt":'))
    .map((e) => JSON.parse(e.detail!.slice(e.detail!.indexOf('{"attempt":'))) as Record<string, unknown>)
}

describe('delivery against a real node:http server on 127.0.0.1', () => {
  it('retries a flaky endpoint (500, 500, 200) with growing delays and one webhook-id, signed verifiably', async () => {
    const srv = await server((i) =>
      i < 2 ? { status: 500, body: `boom ${i}` } : { status: 200, body: 'ok' },
    )
    const { rt, init } = await node()
    const { options } = local({
      name: 'flaky',
      runtime: rt,
      security: { secret },
      endpoints: [{ id: 'ep1', url: srv.url(), events: ['invoice.*'] }],
    })
    const hook = webhook(options)
    await init()
    const fired = await hook.fire('invoice.paid', { invoiceId: 'inv_1', amount: 42 })
    expect(fired).toHaveLength(1)
    expect(fired[0]!.outcome).toBe('created')
    const job = await finished(OqronManager.from(rt.getConfig()), fired[0]!.id)

    expect(job.status).toBe('completed')
    expect(job.attempts).toBe(3)
    expect(job.result).toMatchObject({ status: 200, attempt: 3, webhookId: fired[0]!.webhookId })
    expect(srv.received).toHaveLength(3)
    const ids = new Set(srv.received.map((r) => r.headers['webhook-id']))
    expect([...ids]).toEqual([fired[0]!.webhookId])
    const gap1 = srv.received[1]!.at - srv.received[0]!.at
    const gap2 = srv.received[2]!.at - srv.received[1]!.at
    expect(gap1).toBeGreaterThanOrEqual(180)
    expect(gap2).toBeGreaterThanOrEqual(380)
    expect(gap2).toBeGreaterThan(gap1)

    // Each attempt is in the timeline with its status, duration and what the endpoint said.
    const logs = attemptLogs(job)
    expect(logs.map((l) => l.status)).toEqual([500, 500, 200])
    expect(logs.map((l) => l.attempt)).toEqual([1, 2, 3])
    expect(logs[0]!.snippet).toBe('boom 0')
    for (const l of logs) expect(l.durationMs).toEqual(expect.any(Number))

    const last = srv.received[2]!
    expect(JSON.parse(last.body)).toMatchObject({
      type: 'invoice.paid',
      data: { invoiceId: 'inv_1', amount: 42 },
    })
    expect(last.headers['content-type']).toBe('application/json')
    expect(last.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
    expect(verifyWebhook(last.headers, last.body, secret)).toEqual({
      id: fired[0]!.webhookId,
      timestamp: Number(last.headers['webhook-timestamp']),
    })
    expect(() => verifyWebhook(last.headers, last.body.replace('42', '43'), secret)).toThrow(
      expect.objectContaining({ reason: 'bad-signature' }),
    )
    const later = (Number(last.headers['webhook-timestamp']) + 301) * 1000
    expect(() => verifyWebhook(last.headers, last.body, secret, { now: later })).toThrow(
      WebhookVerificationError,
    )
    expect(() => verifyWebhook(last.headers, last.body, secret, { now: later })).toThrow(/tolerance/)
  })

  it('aborts an in-flight request at once when another runtime cancels the delivery', async () => {
    const srv = await server(() => 'hang')
    const adapters = memoryAdapter()
    const a = await node(adapters)
    const b = await node(adapters)
    const base = { name: 'slow', endpoints: [{ id: 'ep1', url: srv.url() }], timeoutMs: 20_000 }
    const onA = local({ ...base, runtime: a.rt })
    webhook(onA.options)
    const producer = webhook({ ...local({ ...base, runtime: b.rt }).options, worker: false })
    await a.init()
    await b.init()
    const aborted: unknown[] = []
    a.rt.on('cancelled', (e) => aborted.push(e.jobId))

    const [delivery] = await producer.fire('report.ready', { id: 1 })
    await waitFor(() => srv.received.length === 1, 10_000, 'the request to reach the server')
    const t0 = Date.now()
    expect(await OqronManager.from(b.rt.getConfig()).cancelJob(delivery!.id)).toBe(true)
    const closedAt = await srv.received[0]!.closed
    expect(closedAt - t0).toBeLessThan(100)
    expect(aborted).toEqual([delivery!.id])

    const job = await finished(OqronManager.from(b.rt.getConfig()), delivery!.id)
    expect(job.status).toBe('cancelled')
    expect(job.timeline.map((e) => e.event)).toEqual(['added', 'active', 'cancelled'])
    await sleep(500)
    expect(srv.received).toHaveLength(1)
    expect(a.rt.activeJobs).toBe(0)
  })

  it('fails a 404 at once, without retry', async () => {
    const srv = await server(() => ({ status: 404, body: 'no such hook' }))
    const { rt, init } = await node()
    const hook = webhook(local({ name: 'gone', runtime: rt, endpoints: [{ url: srv.url() }] }).options)
    await init()
    const [d] = await hook.fire('user.deleted', { id: 'u1' })
    const job = await finished(OqronManager.from(rt.getConfig()), d!.id)
    expect(job.status).toBe('failed')
    expect(job.attempts).toBe(1)
    expect(job.error).toMatchObject({ name: 'WebhookHttpError' })
    expect(job.error!.message).toMatch(/404/)
    expect(attemptLogs(job)).toEqual([
      expect.objectContaining({ attempt: 1, status: 404, snippet: 'no such hook' }),
    ])
    await sleep(600)
    expect(srv.received).toHaveLength(1)
  })

  it('waits about Retry-After (2 s) after a 429 before the next attempt', async () => {
    const srv = await server((i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 204 },
    )
    const { rt, init } = await node()
    const hook = webhook(
      local({
        name: 'paced',
        runtime: rt,
        endpoints: [{ url: srv.url() }],
        retries: { max: 3, baseDelay: 100, jitter: 0 },
      }).options,
    )
    await init()
    const [d] = await hook.fire('bulk.import', { n: 1 })
    const job = await finished(OqronManager.from(rt.getConfig()), d!.id)
    expect(job.status).toBe('completed')
    expect(srv.received).toHaveLength(2)
    const gap = srv.received[1]!.at - srv.received[0]!.at
    expect(gap).toBeGreaterThanOrEqual(1_900)
    expect(gap).toBeLessThan(4_000)
    expect(attemptLogs(job)[0]).toMatchObject({ status: 429, retryAfterMs: 2_000 })
  })

  it('fails a redirect when redirects are off, and follows it when allowed', async () => {
    const srv = await server((i) =>
      i % 2 === 0 ? { status: 307, headers: { location: '/moved' } } : { status: 200, body: 'moved ok' },
    )
    const { rt, init } = await node()
    const off = webhook(local({ name: 'noredirect', runtime: rt, endpoints: [{ url: srv.url() }] }).options)
    const on = webhook(
      local({ name: 'redirect', runtime: rt, endpoints: [{ url: srv.url() }], maxRedirects: 2 }).options,
    )
    await init()
    const mgr = OqronManager.from(rt.getConfig())
    const [d1] = await off.fire('a.b', {})
    const failed = await finished(mgr, d1!.id)
    expect(failed.status).toBe('failed')
    expect(failed.attempts).toBe(1)
    expect(failed.error!.message).toMatch(/307.*redirects are off/)
    srv.received.length = 0
    const [d2] = await on.fire('a.b', {})
    const done = await finished(mgr, d2!.id)
    expect(done.status).toBe('completed')
    expect(srv.received.map((r) => [r.method, r.url])).toEqual([
      ['POST', '/hook'],
      ['POST', '/moved'],
    ])
    expect(srv.received[1]!.body).toBe(srv.received[0]!.body)
    expect(done.result).toMatchObject({ url: `http://127.0.0.1:${srv.port}/moved` })
  })

  it('routes events by glob to matching endpoints only, one delivery each, idempotent per message id', async () => {
    const srv = await server(() => ({ status: 200 }))
    const { rt, init } = await node()
    const hook = webhook(
      local({
        name: 'router',
        runtime: rt,
        endpoints: [
          { id: 'orders', url: srv.url('/orders'), events: ['order.*'] },
          { id: 'deep', url: srv.url('/deep'), events: ['order.**'] },
          { id: 'users', url: srv.url('/users'), events: ['user.*'] },
        ],
      }).options,
    )
    await init()
    const first = await hook.fire('order.paid.late', { n: 1 }, { id: 'msg_fixed' })
    expect(first.map((f) => [f.endpointId, f.outcome])).toEqual([['deep', 'created']])
    expect(first[0]!.id).toBe('webhook:router:msg_fixed:deep')
    const again = await hook.fire('order.paid.late', { n: 1 }, { id: 'msg_fixed' })
    expect(again.map((f) => f.outcome)).toEqual(['duplicate'])
    const both = await hook.fire('order.paid', { n: 2 })
    expect(both.map((f) => f.endpointId)).toEqual(['orders', 'deep'])
    expect(new Set(both.map((f) => f.webhookId)).size).toBe(1)
    expect(await hook.fire('invoice.paid', {})).toEqual([])
    await waitFor(() => srv.received.length === 3, 10_000, 'three deliveries')
    expect(srv.received.map((r) => r.url).sort()).toEqual(['/deep', '/deep', '/orders'])
  })

  it('resends a delivery as a new linked job with the same webhook-id, lists deliveries per endpoint, reuses the socket', async () => {
    const srv = await server(() => ({ status: 200 }))
    const { rt, init } = await node()
    const hook = webhook(
      local({
        name: 'admin',
        runtime: rt,
        endpoints: [
          { id: 'a', url: srv.url('/a') },
          { id: 'b', url: srv.url('/b') },
        ],
        concurrency: 1,
      }).options,
    )
    await init()
    const mgr = OqronManager.from(rt.getConfig())
    const fired = await hook.fire('x.y', { v: 1 })
    for (const f of fired) await finished(mgr, f.id)
    const resent = await hook.resend(fired[0]!.id)
    expect(resent.id).not.toBe(fired[0]!.id)
    const job = await finished(mgr, resent.id)
    expect(job.status).toBe('completed')
    expect(job.data.resendOf).toBe(fired[0]!.id)
    const toA = srv.received.filter((r) => r.url === '/a')
    expect(toA).toHaveLength(2)
    expect(toA[1]!.headers['webhook-id']).toBe(toA[0]!.headers['webhook-id'])
    expect(toA[1]!.body).toBe(toA[0]!.body)
    // One keep-alive pool per origin: three sequential deliveries to one origin share one connection.
    expect(srv.connections).toBe(1)

    const listed = await hook.listDeliveries('a')
    expect(listed.deliveries.map((d) => d.id).sort()).toEqual([fired[0]!.id, resent.id].sort())
    expect((await hook.listDeliveries('b')).deliveries.map((d) => d.id)).toEqual([fired[1]!.id])
    await expect(hook.resend('webhook:admin:nope:a')).rejects.toThrow(/No job/)
  })

  it('closes an idle pooled socket after keepAliveTimeoutMs even when the server offers a longer keep-alive', async () => {
    const srv = await server(() => ({ status: 200, headers: { 'keep-alive': 'timeout=60' } }))
    const { rt, init } = await node()
    const hook = webhook(
      local({ name: 'idle', runtime: rt, endpoints: [{ url: srv.url() }], keepAliveTimeoutMs: 200 }).options,
    )
    await init()
    const [d] = await hook.fire('a.b', {})
    expect((await finished(OqronManager.from(rt.getConfig()), d!.id)).status).toBe('completed')
    const closed = await Promise.race([
      srv.received[0]!.closed.then(() => true),
      sleep(2_000).then(() => false),
    ])
    expect(closed).toBe(true)
  })

  it('pause stops delivery on every node until resume', async () => {
    const srv = await server(() => ({ status: 200 }))
    const { rt, init } = await node()
    const hook = webhook(local({ name: 'pausable', runtime: rt, endpoints: [{ url: srv.url() }] }).options)
    await init()
    await hook.pause()
    expect(await hook.isPaused()).toBe(true)
    const [d] = await hook.fire('a.b', {})
    await sleep(500)
    expect(srv.received).toHaveLength(0)
    await hook.resume()
    const job = await finished(OqronManager.from(rt.getConfig()), d!.id)
    expect(job.status).toBe('completed')
    expect(srv.received).toHaveLength(1)
  })

  it('opens a circuit shared by all nodes after repeated failures, sends one probe after the reset time', async () => {
    const srv = await server(() => ({ status: 503 }))
    const adapters = memoryAdapter()
    const a = await node(adapters)
    const b = await node(adapters)
    const resetTimeoutMs = 2_000
    const base = {
      name: 'breaker',
      endpoints: [{ id: 'down', url: srv.url() }],
      retries: { max: 3, baseDelay: 50, jitter: 0 },
      circuitBreaker: { failureThreshold: 2, resetTimeoutMs },
    }
    const hookA = webhook(local({ ...base, runtime: a.rt }).options)
    await a.init()
    const [d1] = await hookA.fire('a.b', {})
    const j1 = await finished(OqronManager.from(a.rt.getConfig()), d1!.id)
    // 503, 503 (circuit opens), refused without a request, then one half-open probe that fails again.
    expect(j1.status).toBe('failed')
    expect(j1.attempts).toBe(4)
    expect(srv.received).toHaveLength(3)
    const logs = attemptLogs(j1)
    expect(logs.map((l) => l.status ?? 'open')).toEqual([503, 503, 'open', 503])
    expect(logs[2]!.retryAfterMs).toBeGreaterThan(resetTimeoutMs - 500)
    expect(srv.received[2]!.at - srv.received[1]!.at).toBeGreaterThanOrEqual(resetTimeoutMs - 100)
    await a.rt.stop()

    // Another node sees the same open circuit and sends nothing until it half-opens.
    const hookB = webhook(local({ ...base, runtime: b.rt }).options)
    await b.init()
    const state = await adapters.storage.getState<{ openUntil: number }>(
      b.rt.getConfig().ns,
      'webhook:breaker:circuit:down',
    )
    expect(state!.openUntil).toBeGreaterThan(Date.now())
    const [d2] = await hookB.fire('a.c', {})
    const first = await waitFor(async () => {
      const job = await OqronManager.from(b.rt.getConfig()).getJob(d2!.id)
      return job && attemptLogs(job)[0]
    })
    expect(first).toMatchObject({ attempt: 1, retryAfterMs: expect.any(Number) })
    expect(first.status).toBeUndefined()
    expect(srv.received).toHaveLength(3)
  })

  it('a cancelled delivery is neither failed nor retried (the abort is not taken for a network error)', async () => {
    const srv = await server(() => 'hang')
    const { rt, init } = await node()
    const hook = webhook(local({ name: 'reason', runtime: rt, endpoints: [{ url: srv.url() }] }).options)
    await init()
    const failed: string[] = []
    rt.on('failed', (e) => failed.push(e.error.name))
    rt.on('retrying', (e) => failed.push(e.error.name))
    const [d] = await hook.fire('a.b', {})
    await waitFor(() => srv.received.length === 1, 10_000, 'the request')
    await OqronManager.from(rt.getConfig()).cancelJob(d!.id)
    await srv.received[0]!.closed
    await sleep(200)
    expect(failed).toEqual([])
    expect((await OqronManager.from(rt.getConfig()).getJob(d!.id))!.status).toBe('cancelled')
  })
})
