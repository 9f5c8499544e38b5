import { createHmac, timingSafeEqual } from 'node:crypto'
import { OqronConfigError } from '@oqronkit/core'
import { WebhookVerificationError } from './errors.js'

/** A signing secret: `whsec_<base64>` (the Standard Webhooks form, decoded to its bytes) or any other string (its UTF-8 bytes). */
export type WebhookSecret = string

/** Header name → value, as Node's `req.headers`, a fetch `Headers`, or a plain object (any case). */
export type HeaderSource =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>

/** A Buffer seen as a plain Uint8Array (Node 20's Buffer typings and TypeScript 5.9 disagree). */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

export function secretKey(secret: WebhookSecret, field = 'secret'): Uint8Array {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new OqronConfigError(`${field} must be a non-empty string (e.g. whsec_<base64>).`, { field })
  }
  if (secret.startsWith('whsec_')) {
    const b64 = secret.slice('whsec_'.length)
    const key = Buffer.from(b64, 'base64')
    if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
      throw new OqronConfigError(`${field} starts with whsec_ but the rest is not base64.`, { field })
    }
    return bytes(key)
  }
  return bytes(Buffer.from(secret, 'utf8'))
}

/** The raw request body: a string, a Buffer or any Uint8Array. */
export type RawBody = string | Uint8Array | Buffer

function hmac(key: Uint8Array, id: string, timestamp: number, body: RawBody): Uint8Array {
  const data = typeof body === 'string' ? body : new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  return bytes(createHmac('sha256', key).update(`${id}.${timestamp}.`).update(data).digest())
}

/**
 * The `webhook-signature` value for one message: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
 * secret, space-separated (several secrets let a receiver rotate keys without losing messages).
 */
export function signWebhook(
  id: string,
  timestamp: number,
  body: RawBody,
  secrets: readonly WebhookSecret[],
): string {
  return secrets
    .map((s) => `v1,${Buffer.from(hmac(secretKey(s), id, timestamp, body)).toString('base64')}`)
    .join(' ')
}

function header(headers: HeaderSource, name: string): string | null {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name)
  }
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() !== name) continue
    if (Array.isArray(value)) return value.join(' ')
    return value ?? null
  }
  return null
}

export interface VerifyOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds. @default 300 */
  toleranceSec?: number
  /** Now, in ms since the epoch (tests). @default Date.now() */
  now?: number
}

export const verifyDefaults = { toleranceSec: 300 } satisfies VerifyOptions

export interface VerifiedWebhook {
  /** `webhook-id`: the same on every retry and resend of one message; deduplicate on it. */
  id: string
  /** `webhook-timestamp`, seconds since the epoch. */
  timestamp: number
}

/**
 * For receivers: check a request's Standard Webhooks headers against the raw body (the exact bytes, before
 * any JSON parsing) and one or more secrets. Throws `WebhookVerificationError` on a missing header, a
 * timestamp outside `toleranceSec`, or no matching `v1` signature; comparisons are constant-time.
 */
export function verifyWebhook(
  headers: HeaderSource,
  body: RawBody,
  secret: WebhookSecret | readonly WebhookSecret[],
  options: VerifyOptions = {},
): VerifiedWebhook {
  const id = header(headers, 'webhook-id')
  const ts = header(headers, 'webhook-timestamp')
  const signatures = header(headers, 'webhook-signature')
  if (!id || !ts || !signatures) {
    throw new WebhookVerificationError(
      'missing-headers',
      'The request lacks webhook-id, webhook-timestamp or webhook-signature.',
    )
  }
  if (!/^\d{1,15}$/.test(ts)) {
    throw new WebhookVerificationError(
      'bad-timestamp',
      `webhook-timestamp "${ts}" is not a number of seconds.`,
    )
  }
  const timestamp = Number(ts)
  const toleranceSec = options.toleranceSec ?? verifyDefaults.toleranceSec
  const nowSec = Math.floor((options.now ?? Date.now()) / 1000)
  if (Math.abs(nowSec - timestamp) > toleranceSec) {
    throw new WebhookVerificationError(
      'stale-timestamp',
      `webhook-timestamp is ${nowSec - timestamp} s from now, outside the ${toleranceSec} s tolerance (a replay, or a clock off).`,
    )
  }
  const secrets = typeof secret === 'string' ? [secret] : [...secret]
  if (secrets.length === 0) throw new OqronConfigError('verifyWebhook needs at least one secret.')
  const expected = secrets.map((s) => hmac(secretKey(s), id, timestamp, body))
  let ok = false
  for (const part of signatures.split(' ')) {
    const [version, value] = part.split(',', 2)
    if (version !== 'v1' || !value) continue
    const given = bytes(Buffer.from(value, 'base64'))
    for (const want of expected) {
      // Every candidate is compared in full, so the time taken says nothing about which byte differed.
      if (given.length === want.length && timingSafeEqual(given, want)) ok = true
    }
  }
  if (!ok)
    throw new WebhookVerificationError('bad-signature', 'No webhook-signature matches the body and secret.')
  return { id, timestamp }
}
