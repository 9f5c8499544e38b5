import { OqronManager, OqronRuntime } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { afterEach, describe, expect, it } from 'vitest'
import { blockedReason, type DeliveryData, webhook } from '../src/index.js'
import { fakeLookup, loopbackOnlyConnector, quiet, testServer, waitFor } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup() {
  const srv = await testServer(() => ({ status: 200 }))
  cleanups.push(srv.close)
  const rt = new OqronRuntime()
  cleanups.push(() => rt.stop())
  return { srv, rt }
}

async function settle(rt: OqronRuntime, id: string) {
  return waitFor(
    async () => {
      const job = await OqronManager.from(rt.getConfig()).getJob<DeliveryData>(id)
      return job && (job.status === 'failed' || job.status === 'completed') ? job : null
    },
    10_000,
    `delivery ${id} to settle`,
  )
}

describe('blockedReason', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.8.9.10', /loopback/],
    ['10.0.0.1', /private/],
    ['172.16.5.4', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /metadata/],
    ['169.254.1.1', /link-local/],
    ['100.64.0.1', /carrier-grade/],
    ['100.100.100.200', /metadata/],
    ['0.0.0.0', /this network/],
    ['0.1.2.3', /this network/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /reserved/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fc00::1', /unique-local/],
    ['fd12:3456::1', /unique-local/],
    ['fe80::1%eth0', /link-local/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:169.254.169.254', /metadata/],
    ['64:ff9b::a00:1', /private/],
    ['2002:a00:1::', /private/],
    ['fd00:ec2::254', /metadata/],
    ['198.18.0.1', /benchmarking/],
    ['2001:2::1', /benchmarking/],
    ['2001:db8::1', /documentation/],
    ['not-an-ip', /not an IP/],
  ])('refuses %s', (address, reason) => {
    expect(blockedReason(address, false)).toMatch(reason)
  })

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])(
    'allows the public address %s',
    (address) => {
      expect(blockedReason(address, false)).toBeNull()
    },
  )

  it('allowPrivateNetworks lifts private ranges but never cloud metadata', () => {
    expect(blockedReason('127.0.0.1', true)).toBeNull()
    expect(blockedReason('10.0.0.1', true)).toBeNull()
    expect(blockedReason('fc00::1', true)).toBeNull()
    expect(blockedReason('169.254.169.254', true)).toMatch(/metadata/)
    expect(blockedReason('::ffff:169.254.169.254', true)).toMatch(/metadata/)
  })
})

describe('the SSRF guard at its default (no packet leaves loopback, even if the guard were broken)', () => {
  it('refuses 127.0.0.1, 169.254.169.254 and a name resolving to 10.0.0.1, without connecting or retrying', async () => {
    const { srv, rt } = await setup()
    const lookup = fakeLookup({
      'internal.example': ['10.0.0.1'],
      'mixed.example': ['93.184.216.34', '10.0.0.2'],
    })
    const { connector, asked } = loopbackOnlyConnector()
    const hook = webhook({
      name: 'guarded',
      runtime: rt,
      lookup,
      connect: connector,
      endpoints: [
        { id: 'loopback', url: srv.url() },
        { id: 'metadata', url: 'http://169.254.169.254/latest/meta-data/' },
        { id: 'internal', url: 'http://internal.example/hook' },
        { id: 'mixed', url: 'http://mixed.example/hook' },
        { id: 'localhost', url: `http://localhost:${srv.port}/hook` },
        { id: 'v6', url: 'http://[::ffff:127.0.0.1]/hook' },
      ],
      retries: { max: 3, baseDelay: 50 },
    })
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    const fired = await hook.fire('any.thing', { secret: 'data' })
    expect(fired).toHaveLength(6)
    for (const f of fired) {
      const job = await settle(rt, f.id)
      expect(job.status, f.endpointId).toBe('failed')
      expect(job.attempts, f.endpointId).toBe(1)
      expect(job.error!.name).toBe('SsrfBlockedError')
    }
    const byId = Object.fromEntries(
      await Promise.all(fired.map(async (f) => [f.endpointId, (await settle(rt, f.id)).error!.message])),
    )
    expect(byId.loopback).toMatch(/127\.0\.0\.1.*loopback.*allowPrivateNetworks/)
    expect(byId.metadata).toMatch(/169\.254\.169\.254.*metadata/)
    expect(byId.internal).toMatch(/internal\.example \(10\.0\.0\.1\).*private/)
    expect(byId.mixed).toMatch(/mixed\.example \(10\.0\.0\.2\)/)
    expect(byId.localhost).toMatch(/loopback hostname/)
    expect(byId.v6).toMatch(/loopback/)
    expect(lookup.asked.sort()).toEqual(['internal.example', 'mixed.example'])
    expect(asked).toEqual([])
    expect(srv.received).toHaveLength(0)
    expect(srv.connections).toBe(0)
  })

  it('an endpoint may allow private networks for itself while the webhook keeps the guard on', async () => {
    const { srv, rt } = await setup()
    const { connector, asked } = loopbackOnlyConnector()
    const hook = webhook({
      name: 'mixed-guard',
      runtime: rt,
      lookup: fakeLookup({}),
      connect: connector,
      endpoints: [
        { id: 'trusted', url: srv.url('/trusted'), allowPrivateNetworks: true },
        { id: 'untrusted', url: srv.url('/untrusted') },
      ],
    })
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    const [trusted, untrusted] = await hook.fire('a.b', {})
    expect((await settle(rt, trusted!.id)).status).toBe('completed')
    expect((await settle(rt, untrusted!.id)).error!.name).toBe('SsrfBlockedError')
    expect(srv.received.map((r) => r.url)).toEqual(['/trusted'])
    expect(asked.map((t) => t.address)).toEqual(['127.0.0.1'])
  })

  it('checks every redirect hop: a public host redirecting to the metadata address is refused', async () => {
    const srv = await testServer((req) =>
      req.url === '/start'
        ? { status: 302, headers: { location: 'http://169.254.169.254/latest' } }
        : { status: 200 },
    )
    cleanups.push(srv.close)
    const rt = new OqronRuntime()
    cleanups.push(() => rt.stop())
    // "public.example" resolves to a public address; the test connector stands it in with the loopback server.
    const lookup = fakeLookup({ 'public.example': ['93.184.216.34'] })
    const { connector, asked } = loopbackOnlyConnector(['93.184.216.34'])
    const hook = webhook({
      name: 'hops',
      runtime: rt,
      lookup,
      connect: connector,
      maxRedirects: 3,
      endpoints: [{ url: `http://public.example:${srv.port}/start` }],
    })
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    const [d] = await hook.fire('a.b', {})
    const job = await settle(rt, d!.id)
    expect(job.status).toBe('failed')
    expect(job.attempts).toBe(1)
    expect(job.error!.name).toBe('SsrfBlockedError')
    expect(job.error!.message).toMatch(/169\.254\.169\.254/)
    expect(srv.received.map((r) => [r.url, r.headers.host])).toEqual([
      ['/start', `public.example:${srv.port}`],
    ])
    expect(asked.map((t) => [t.hostname, t.address])).toEqual([['public.example', '93.184.216.34']])
  })

  it('checks each new connection again and connects to the IP it checked, so a changed DNS answer (rebinding) is refused', async () => {
    const srv = await testServer(() => ({ status: 200 }))
    cleanups.push(srv.close)
    const rt = new OqronRuntime()
    cleanups.push(() => rt.stop())
    let answers = 0
    // First answer public (a stand-in for the loopback server), every later one the metadata address.
    const lookup = async () => [{ address: answers++ === 0 ? '93.184.216.34' : '169.254.169.254', family: 4 }]
    const { connector, asked } = loopbackOnlyConnector(['93.184.216.34'])
    const hook = webhook({
      name: 'rebind',
      runtime: rt,
      lookup,
      connect: connector,
      concurrency: 1,
      keepAliveTimeoutMs: 60_000,
      endpoints: [{ url: `http://rebind.example:${srv.port}/hook` }],
    })
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    const [first] = await hook.fire('a.b', {})
    expect((await settle(rt, first!.id)).status).toBe('completed')
    await hook.closePools()
    const [second] = await hook.fire('a.c', {})
    const job = await settle(rt, second!.id)
    expect(job.error!.name).toBe('SsrfBlockedError')
    expect(asked.map((t) => t.address)).toEqual(['93.184.216.34'])
    expect(srv.received).toHaveLength(1)
  })
})
