import { createHmac } from 'node:crypto'
import { OqronConfigError, OqronRuntime } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { describe, expect, it } from 'vitest'
import {
  eventMatches,
  parseRetryAfter,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  webhook,
} from '../src/index.js'
import { acquireRate } from '../src/rate-limit.js'

const key = '0123456789abcdef0123456789abcdef'
const secret = `whsec_${Buffer.from(key).toString('base64')}`

function signed(body: string, ts = Math.floor(Date.now() / 1000), s: string | string[] = secret) {
  const secrets = Array.isArray(s) ? s : [s]
  return {
    'webhook-id': 'msg_1',
    'webhook-timestamp': String(ts),
    'webhook-signature': signWebhook('msg_1', ts, body, secrets),
  }
}

describe('Standard Webhooks signing', () => {
  it('signs v1,<base64 HMAC-SHA256 of id.timestamp.body> with the decoded whsec_ key', () => {
    const body = '{"type":"a.b","data":{}}'
    const expected = createHmac('sha256', key).update(`msg_1.1700000000.${body}`).digest('base64')
    expect(signWebhook('msg_1', 1700000000, body, [secret])).toBe(`v1,${expected}`)
    // A plain string secret is used as its UTF-8 bytes.
    const plain = createHmac('sha256', 'plain').update(`msg_1.1700000000.${body}`).digest('base64')
    expect(signWebhook('msg_1', 1700000000, body, ['plain'])).toBe(`v1,${plain}`)
  })

  it('verifies with any case of header names, from a Headers object, and from raw bytes', () => {
    const body = '{"ok":true}'
    const h = signed(body)
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]))
    expect(verifyWebhook(upper, body, secret).id).toBe('msg_1')
    expect(verifyWebhook(new Headers(h), Buffer.from(body), secret).id).toBe('msg_1')
  })

  it('accepts any of several signatures and secrets (key rotation)', () => {
    const body = 'x'
    const h = signed(body, undefined, ['whsec_b2xk', secret])
    expect(h['webhook-signature'].split(' ')).toHaveLength(2)
    expect(verifyWebhook(h, body, secret).id).toBe('msg_1')
    expect(verifyWebhook(signed(body), body, ['whsec_b2xk', secret]).id).toBe('msg_1')
  })

  it.each([
    ['a tampered body', (h: Record<string, string>) => [h, 'y'] as const, 'bad-signature'],
    ['a wrong secret', (h: Record<string, string>) => [h, 'x', 'whsec_b3RoZXI='] as const, 'bad-signature'],
    [
      'a changed id',
      (h: Record<string, string>) => [{ ...h, 'webhook-id': 'msg_2' }, 'x'] as const,
      'bad-signature',
    ],
    [
      'a missing signature',
      (h: Record<string, string>) => [{ ...h, 'webhook-signature': '' }, 'x'] as const,
      'missing-headers',
    ],
    [
      'a v2 signature only',
      (h: Record<string, string>) =>
        [{ ...h, 'webhook-signature': h['webhook-signature']!.replace('v1,', 'v2,') }, 'x'] as const,
      'bad-signature',
    ],
    [
      'a non-numeric timestamp',
      (h: Record<string, string>) => [{ ...h, 'webhook-timestamp': '12a' }, 'x'] as const,
      'bad-timestamp',
    ],
  ])('rejects %s', (_name, change, reason) => {
    const [headers, body, s] = change(signed('x'))
    expect(() => verifyWebhook(headers, body, s ?? secret)).toThrow(
      expect.objectContaining({ name: 'WebhookVerificationError', reason }),
    )
  })

  it('rejects timestamps outside the tolerance either way', () => {
    const now = 1_700_000_000_000
    const old = signed('x', now / 1000 - 301)
    const future = signed('x', now / 1000 + 301)
    expect(() => verifyWebhook(old, 'x', secret, { now })).toThrow(WebhookVerificationError)
    expect(() => verifyWebhook(future, 'x', secret, { now })).toThrow(/tolerance/)
    expect(verifyWebhook(old, 'x', secret, { now, toleranceSec: 600 }).id).toBe('msg_1')
  })
})

describe('event globs', () => {
  it.each([
    ['order.*', 'order.paid', true],
    ['order.*', 'order.paid.late', false],
    ['order.*', 'order', false],
    ['order.**', 'order', true],
    ['order.**', 'order.paid.late', true],
    ['**', 'anything.at.all', true],
    ['*.paid', 'invoice.paid', true],
    ['**.paid', 'a.b.paid', true],
    ['**.paid', 'a.b.refunded', false],
    ['a.**.z', 'a.z', true],
    ['a.**.z', 'a.b.c.z', true],
    ['invoice.paid', 'invoice.paid', true],
    ['invoice.paid', 'invoice.refunded', false],
  ])('%s vs %s → %s', (pattern, event, expected) => {
    expect(eventMatches(pattern, event)).toBe(expected)
  })
})

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, ignores junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('2', now)).toBe(2_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeNull()
    expect(parseRetryAfter(undefined, now)).toBeNull()
  })

  it('leaves junk that Date.parse happens to read (a negative or fractional number) to the backoff, not 0', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    // V8 reads "-1" as 2001-01-01 and "1.5" as 2001-01-05: a date in the past would mean "retry at once".
    for (const junk of ['-1', '1.5', '1,5', 'Jan 1']) expect(parseRetryAfter(junk, now), junk).toBeNull()
    expect(parseRetryAfter('Sunday, 01-Jan-26 00:00:10 GMT', now)).toBe(10_000)
    expect(parseRetryAfter('Thu Jan  1 00:00:20 2026', now)).toBe(20_000)
  })
})

describe('shared rate limit', () => {
  it('lets a burst of max through, then spaces requests by intervalMs / max, across callers', async () => {
    const adapters = memoryAdapter()
    let t = 0
    const now = () => t
    const limit = { max: 2, intervalMs: 1_000 }
    const signal = new AbortController().signal
    await acquireRate(adapters.storage, 'ns', 'k', limit, signal, now)
    await acquireRate(adapters.storage, 'ns', 'k', limit, signal, now)
    // The third must wait 500 ms of (fake) time: it is released once time moves on.
    let third = false
    const pending = acquireRate(adapters.storage, 'ns', 'k', limit, signal, now).then(() => {
      third = true
    })
    await new Promise((r) => setTimeout(r, 50))
    expect(third).toBe(false)
    t = 500
    await pending
    expect(third).toBe(true)
  })

  it('waits without polling when the wait is longer than a Node timer can take (2^31 - 1 ms)', async () => {
    const adapters = memoryAdapter()
    let reads = 0
    const storage = new Proxy(adapters.storage, {
      get(target, prop, receiver) {
        if (prop === 'getState') reads++
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const limit = { max: 1, intervalMs: 2 ** 32 }
    const controller = new AbortController()
    await acquireRate(storage, 'ns', 'k', limit, controller.signal)
    reads = 0
    const waiting = acquireRate(storage, 'ns', 'k', limit, controller.signal).catch(() => {})
    await new Promise((r) => setTimeout(r, 200))
    controller.abort(new Error('cancelled'))
    await waiting
    // An overflowing setTimeout fires after 1 ms: the limiter would read storage hundreds of times here.
    expect(reads).toBeLessThanOrEqual(2)
  })

  it('is abortable while waiting', async () => {
    const adapters = memoryAdapter()
    const limit = { max: 1, intervalMs: 60_000 }
    const controller = new AbortController()
    await acquireRate(adapters.storage, 'ns', 'k', limit, controller.signal)
    const waiting = acquireRate(adapters.storage, 'ns', 'k', limit, controller.signal)
    controller.abort(new Error('cancelled'))
    await expect(waiting).rejects.toThrow('cancelled')
  })
})

describe('webhook() options', () => {
  const rt = () => new OqronRuntime()
  it.each([
    ['no endpoints', {}, /endpoints is required/],
    ['no name', { name: undefined, endpoints: [{ url: 'https://x.example' }] }, /name/],
    ['a bad url', { endpoints: [{ url: 'ftp://x' }] }, /http or https/],
    ['credentials in the url', { endpoints: [{ url: 'https://u:p@x.example' }] }, /credentials/],
    ['a bad glob', { endpoints: [{ url: 'https://x.example', events: ['a..b'] }] }, /event glob/],
    ['a bad secret', { endpoints: [{ url: 'https://x.example', secret: 'whsec_!!' }] }, /not base64/],
    [
      'duplicate ids',
      {
        endpoints: [
          { id: 'a', url: 'https://x.example' },
          { id: 'a', url: 'https://y.example' },
        ],
      },
      /two endpoints/,
    ],
    [
      'a missing secret under requireSignature',
      { security: { requireSignature: true }, endpoints: [{ url: 'https://x.example' }] },
      /requireSignature/,
    ],
    [
      'a bad rate limit',
      { endpoints: [{ url: 'https://x.example', rateLimit: { max: 0 } }] },
      /rateLimit.max/,
    ],
    ['a bad timeout', { timeoutMs: -1, endpoints: [] }, /timeoutMs/],
    // Past 2^31 - 1 ms Node fires a timer after 1 ms: every attempt would time out at once.
    ['a timeout past the timer limit', { timeoutMs: 2 ** 31, endpoints: [] }, /timeoutMs/],
    [
      'a connect timeout past the timer limit',
      { connectTimeoutMs: 2 ** 31, endpoints: [] },
      /connectTimeoutMs/,
    ],
    [
      'a header value with CR/LF',
      { endpoints: [{ url: 'https://x.example', headers: { 'x-a': 'a\r\nb' } }] },
      /headers/,
    ],
    [
      'a header name that is not a token',
      { endpoints: [{ url: 'https://x.example', headers: { 'bad name': 'v' } }] },
      /headers/,
    ],
    [
      'a transfer-encoding header',
      { endpoints: [{ url: 'https://x.example', headers: { 'Transfer-Encoding': 'chunked' } }] },
      /headers/,
    ],
    [
      'a content-length header',
      { endpoints: [{ url: 'https://x.example', headers: { 'content-length': '5' } }] },
      /headers/,
    ],
    [
      'a header the delivery signs',
      { endpoints: [{ url: 'https://x.example', headers: { 'Webhook-Id': 'other' } }] },
      /headers/,
    ],
    [
      'headers that are not an object',
      { endpoints: [{ url: 'https://x.example', headers: 'abc' }] },
      /headers/,
    ],
    // Spread into the defaults, a number vanished: `retries: 5` ran with the default policy.
    ['retries that are not an object', { retries: 5, endpoints: [] }, /retries must be an object/],
    ['retries: false', { retries: false, endpoints: [] }, /retries must be an object/],
  ])('rejects %s with OqronConfigError', (_name, extra, message) => {
    const runtime = rt()
    const call = () => webhook({ name: 'bad', runtime, ...(extra as { endpoints: [] }) })
    expect(call).toThrow(OqronConfigError)
    expect(call).toThrow(message)
  })

  it('rejects a second webhook of one name and a bad fire() before storing anything', async () => {
    const runtime = rt()
    const hook = webhook({ name: 'w', runtime, endpoints: [{ url: 'https://x.example' }], worker: false })
    expect(() => webhook({ name: 'w', runtime, endpoints: [] })).toThrow(/already defined/)
    await runtime.init({ adapters: memoryAdapter(), shutdown: { signals: false } })
    try {
      await expect(hook.fire('bad event', {})).rejects.toThrow(/dot-separated/)
      await expect(hook.fire('a.b', { n: 1n })).rejects.toThrow(/BigInt|serializ/)
      await expect(hook.fire('a.b', {}, { id: 'has space' })).rejects.toThrow(/id must be/)
      expect(await hook.count()).toMatchObject({ waiting: 0 })
    } finally {
      await runtime.stop()
    }
  })
})
