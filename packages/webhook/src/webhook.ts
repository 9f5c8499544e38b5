import { createHash, randomUUID } from 'node:crypto'
import {
  type AddedJob,
  assertSerializable,
  type EnqueueDefaults,
  type JobContext,
  JobNotFoundError,
  type JobPage,
  type JobRecord,
  JobStateError,
  type JobStatus,
  ModuleHandle,
  OqronConfigError,
  OqronKit,
  type OqronRuntime,
  type ResolvedWorkOptions,
  type RetryOptions,
  resolveWorkOptions,
  stripUndefined,
  type WorkOptions,
} from '@oqronkit/core'
import { Agent, type Dispatcher } from 'undici'
import { CircuitBreaker, type CircuitBreakerOptions, circuitDefaults } from './circuit.js'
import {
  CircuitOpenError,
  EndpointNotFoundError,
  SsrfBlockedError,
  WebhookHttpError,
  WebhookNetworkError,
} from './errors.js'
import { assertEventName, assertEventPattern, eventMatches } from './glob.js'
import { anySignal, connectSocket, type SendResult, send } from './http.js'
import { acquireRate, type RateLimit } from './rate-limit.js'
import { secretKey, signWebhook, type WebhookSecret } from './signing.js'
import { defaultLookup, guardedConnector, type LookupFunction, type SocketConnector } from './ssrf.js'

export interface WebhookEndpoint {
  /**
   * Stable id: part of delivery ids, and the key of the endpoint's circuit and rate limit. Give one, so that
   * pending deliveries follow a URL change. Letters, digits, `_ . -`. @default first 16 hex of sha256(url)
   */
  id?: string
  /** http(s) URL the deliveries are POSTed to. */
  url: string
  /** Event globs: `*` one dot-separated segment, `**` any number. @default ['**'] */
  events?: string[]
  /** Extra request headers (sent to this endpoint's origin only, not across a redirect to another). */
  headers?: Record<string, string>
  /** Signing secret(s) (`whsec_<base64>` or a plain string); several sign with each. @default security.secret */
  secret?: WebhookSecret | WebhookSecret[]
  /** At most `max` requests per `intervalMs` to this endpoint, across all nodes. @default none */
  rateLimit?: RateLimit
  /** Allow private, loopback and link-local destinations for this endpoint. @default the webhook's allowPrivateNetworks */
  allowPrivateNetworks?: boolean
}

/** A list, or a function called at every fire and every delivery (so edits apply to pending deliveries). */
export type EndpointSource =
  | readonly WebhookEndpoint[]
  | (() => Promise<readonly WebhookEndpoint[]> | readonly WebhookEndpoint[])

export interface WebhookSecurityOptions {
  /** Secret(s) for endpoints that have none of their own. @default none (unsigned) */
  secret?: WebhookSecret | WebhookSecret[]
  /** Refuse to fire to an endpoint without a secret. @default false */
  requireSignature?: boolean
}

export interface WebhookOptions extends WorkOptions {
  /** Unique per runtime. The engine queue is `webhook:<name>`. */
  name: string
  endpoints: EndpointSource
  security?: WebhookSecurityOptions
  /** Deadline of one attempt (connect, redirects, answer), ms. @default 15000 */
  timeoutMs?: number
  /** Let every endpoint reach private, loopback, link-local and CGNAT addresses. Cloud metadata addresses stay refused. @default false */
  allowPrivateNetworks?: boolean
  /** Redirects followed per attempt; each hop is checked by the SSRF guard. 0: a 3xx fails the delivery. @default 0 */
  maxRedirects?: number
  /** Per-endpoint circuit breaker shared by all nodes; `false` turns it off. @default { failureThreshold: 5, resetTimeoutMs: 30000 } */
  circuitBreaker?: CircuitBreakerOptions | false
  /** Bytes of each answer kept in the job timeline. @default 1024 */
  responseSnippetBytes?: number
  /** Retry-After values are capped at this, ms. @default 3600000 */
  maxRetryAfterMs?: number
  /** TCP/TLS connect deadline of the default connector, ms. @default 10000 */
  connectTimeoutMs?: number
  /** Idle keep-alive sockets are closed after this, ms. @default 4000 */
  keepAliveTimeoutMs?: number
  /** Sockets per origin. @default concurrency */
  connectionsPerOrigin?: number
  /** @default 'oqronkit-webhook' */
  userAgent?: string
  /** DNS resolution used by the SSRF guard. @default dns.promises.lookup(host, { all: true }) */
  lookup?: LookupFunction
  /** Opens the socket to a checked address. @default TCP, or TLS with SNI for https */
  connect?: SocketConnector
  /** Deliver in this runtime; `false` only fires (another process delivers). @default true */
  worker?: boolean
  /** @default OqronKit */
  runtime?: OqronRuntime
}

/** Webhook retries: longer than a queue's, as endpoints are down for minutes, not milliseconds. */
export const webhookRetryDefaults = {
  max: 10,
  strategy: 'exponential',
  baseDelay: 5_000,
  maxDelay: 3_600_000,
  jitter: 0.2,
} satisfies Required<RetryOptions>

/**
 * The webhook's retry defaults under what was given. Only an object is merged: anything else goes to core as
 * it is, which refuses it (`retries: 5` spread into the defaults would vanish and run the default policy).
 */
function withRetryDefaults(given: RetryOptions | undefined): RetryOptions | undefined {
  if (given === undefined) return webhookRetryDefaults
  if (given === null || typeof given !== 'object' || Array.isArray(given)) return given
  return { ...webhookRetryDefaults, ...stripUndefined(given) }
}

/** Every default of `webhook()` in one place (plus the `WorkOptions` defaults of `@oqronkit/core`). */
export const webhookDefaults = {
  guaranteedWorker: true,
  concurrency: 10,
  timeoutMs: 15_000,
  allowPrivateNetworks: false,
  maxRedirects: 0,
  circuitBreaker: circuitDefaults,
  responseSnippetBytes: 1_024,
  maxRetryAfterMs: 3_600_000,
  connectTimeoutMs: 10_000,
  keepAliveTimeoutMs: 4_000,
  userAgent: 'oqronkit-webhook',
  worker: true,
  retries: webhookRetryDefaults,
} as const satisfies Partial<WebhookOptions>

/** What one delivery job holds. The body is serialized once at fire, so every retry signs the same bytes. */
export interface DeliveryData {
  /** `webhook-id` header: one per fired message, the same on every retry and resend. */
  webhookId: string
  event: string
  endpointId: string
  /** The endpoint's URL when fired (deliveries go to its current URL). */
  url: string
  /** `{"type":event,"timestamp":ISO,"data":payload}` */
  body: string
  firedAt: number
  /** The delivery this one re-sends, if any. */
  resendOf: string | null
}

export interface DeliveryResult {
  status: number
  durationMs: number
  attempt: number
  webhookId: string
  /** Origin and path the answer came from (no query string). */
  url: string
}

export type Delivery = JobRecord<DeliveryData, DeliveryResult>

export interface FireOptions {
  /** Message id (`webhook-id`); firing twice with one id creates each delivery once. @default msg_<random> */
  id?: string
  /** Only these endpoint ids (still filtered by their events). @default all */
  endpoints?: string[]
  /** ms before the deliveries become due. @default 0 */
  delay?: number
  /** @default 0 */
  priority?: number
}

export interface FiredDelivery {
  /** The delivery job id: `webhook:<name>:<message id>:<endpoint id>`. */
  id: string
  endpointId: string
  webhookId: string
  outcome: AddedJob['outcome']
  job: Delivery | null
}

export interface ListDeliveriesOptions {
  status?: JobStatus
  /** Deliveries scanned per underlying page; a page may return more matches than this. @default 50 */
  limit?: number
  cursor?: string | null
}

interface ResolvedEndpoint {
  id: string
  url: URL
  events: string[]
  headers: Record<string, string>
  secrets: string[]
  rateLimit: Required<RateLimit> | null
  allowPrivate: boolean
}

const ENDPOINT_ID = /^[A-Za-z0-9_.-]{1,64}$/
const MESSAGE_ID = /^[A-Za-z0-9_.:-]{1,128}$/
/** An HTTP token (RFC 9110), and a header value without control characters other than tab. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/**
 * Headers an endpoint may not set: message framing (undici refuses them or the body would not match) and the
 * ones every delivery sets itself, which a second copy in another case would corrupt (a receiver could not
 * verify the signature).
 */
const RESERVED_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'expect',
  'content-type',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
])

function positive(value: unknown, field: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new OqronConfigError(`${field} must be ${allowZero ? 'a non-negative' : 'a positive'} integer.`, {
      field,
    })
  }
  return value
}

/** The longest delay a Node timer takes; past it, setTimeout fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647

/** A positive integer used as a timer delay, ms. */
function timerMs(value: unknown, field: string): number {
  const ms = positive(value, field)
  if (ms > MAX_TIMER_MS) {
    throw new OqronConfigError(`${field} must be at most ${MAX_TIMER_MS} ms (about 24.8 days).`, { field })
  }
  return ms
}

function asList<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/** Origin and path only: query strings often carry tokens, which must not land in timelines. */
function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`
}

/**
 * Parse `Retry-After`: delay-seconds or an HTTP date. Null when absent or unparsable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value
  if (!text) return null
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000
  // Every HTTP-date form starts with a day name; Date.parse alone reads junk such as "-1" or "1.5" as a past
  // date, which would mean "retry at once" instead of the backoff.
  if (!/^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s/i.test(text)) return null
  const at = Date.parse(text)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/** A webhook dispatcher: fire events, inspect and resend deliveries, pause it. */
export class Webhook<Payload = unknown> extends ModuleHandle {
  private readonly agents = new Map<boolean, Agent>()
  private readonly staticEndpoints: ResolvedEndpoint[] | null

  /** @internal */
  constructor(
    readonly name: string,
    runtime: OqronRuntime,
    private readonly options: WebhookOptions,
    private readonly work: ResolvedWorkOptions,
    private readonly settings: {
      timeoutMs: number
      allowPrivate: boolean
      maxRedirects: number
      circuit: Required<CircuitBreakerOptions> | null
      snippetBytes: number
      maxRetryAfterMs: number
      connectTimeoutMs: number
      keepAliveTimeoutMs: number
      connectionsPerOrigin: number
      userAgent: string
    },
  ) {
    super(runtime, `webhook:${name}`)
    this.staticEndpoints =
      typeof options.endpoints === 'function'
        ? null
        : this.normalizeAll(options.endpoints, `webhook "${name}".endpoints`)
  }

  private get defaults(): EnqueueDefaults {
    return {
      maxAttempts: this.work.retries.max + 1,
      guaranteed: this.work.guaranteedWorker,
      disabledBehavior: this.work.disabledBehavior,
    }
  }

  /**
   * Create one delivery job per endpoint whose `events` match `event`, all with one `webhook-id`. Firing
   * again with the same `id` returns the existing deliveries (`outcome: 'duplicate'`). Bad input throws
   * and stores nothing.
   */
  async fire(event: string, payload: Payload, options: FireOptions = {}): Promise<FiredDelivery[]> {
    assertEventName(event)
    if (options === null || typeof options !== 'object')
      throw new OqronConfigError('fire() options must be an object.')
    assertSerializable(payload, 'payload')
    const webhookId = options.id ?? `msg_${randomUUID().replaceAll('-', '')}`
    if (typeof webhookId !== 'string' || !MESSAGE_ID.test(webhookId)) {
      throw new OqronConfigError('fire() id must be 1-128 characters of letters, digits, _ . : -.', {
        field: 'id',
      })
    }
    const only = options.endpoints === undefined ? null : new Set(options.endpoints)
    const endpoints = (await this.endpoints()).filter(
      (ep) => (only === null || only.has(ep.id)) && ep.events.some((p) => eventMatches(p, event)),
    )
    if (endpoints.length === 0) return []
    const firedAt = Date.now()
    const body = JSON.stringify({
      type: event,
      timestamp: new Date(firedAt).toISOString(),
      data: payload ?? null,
    })
    const items = endpoints.map((ep) => {
      const data: DeliveryData = {
        webhookId,
        event,
        endpointId: ep.id,
        url: ep.url.href,
        body,
        firedAt,
        resendOf: null,
      }
      return {
        data,
        options: {
          jobId: this.deliveryId(webhookId, ep.id),
          delay: options.delay,
          priority: options.priority,
        },
      }
    })
    const added = await this.runtime.enqueueBulk(this.queue, items, this.defaults)
    return added.map((a, i) => ({
      id: a.id,
      endpointId: endpoints[i]!.id,
      webhookId,
      outcome: a.outcome,
      job: a.job as Delivery | null,
    }))
  }

  /**
   * Deliver a finished delivery again as a new job (`resendOf` links it to the old one). The message keeps
   * its `webhook-id` and body, so a receiver that saw it already can tell.
   */
  async resend(deliveryId: string): Promise<FiredDelivery> {
    const old = await this.getDelivery(deliveryId)
    if (!old) throw new JobNotFoundError(deliveryId)
    if (old.status !== 'completed' && old.status !== 'failed' && old.status !== 'cancelled') {
      throw new JobStateError(deliveryId, old.status, 'resend')
    }
    const root = this.deliveryId(old.data.webhookId, old.data.endpointId)
    const id = `${root}~${randomUUID().slice(0, 8)}`
    const data: DeliveryData = { ...old.data, resendOf: old.id }
    const added = await this.runtime.enqueue(this.queue, data, { jobId: id }, this.defaults)
    return {
      id: added.id,
      endpointId: data.endpointId,
      webhookId: data.webhookId,
      outcome: added.outcome,
      job: added.job as Delivery | null,
    }
  }

  async getDelivery(id: string): Promise<Delivery | null> {
    const job = await this.manager().getJob<DeliveryData, DeliveryResult>(id)
    return job && job.queue === this.queue ? job : null
  }

  /** Deliveries of one endpoint, newest first. Pass the returned cursor for the next page. */
  async listDeliveries(
    endpointId: string,
    options: ListDeliveriesOptions = {},
  ): Promise<{ deliveries: Delivery[]; cursor: string | null }> {
    const limit = options.limit ?? 50
    const deliveries: Delivery[] = []
    let cursor = options.cursor ?? null
    do {
      const page: JobPage = await this.manager().listJobs({
        queue: this.queue,
        status: options.status,
        limit,
        cursor,
      })
      for (const job of page.jobs as Delivery[]) if (job.data?.endpointId === endpointId) deliveries.push(job)
      cursor = page.cursor
    } while (cursor !== null && deliveries.length < limit)
    return { deliveries, cursor }
  }

  /** @internal The delivery handler: one HTTP attempt per run. */
  async deliver(ctx: JobContext<DeliveryData>): Promise<DeliveryResult> {
    const d = ctx.data
    const endpoint = (await this.endpoints()).find((ep) => ep.id === d.endpointId)
    if (!endpoint) {
      ctx.discard()
      throw new EndpointNotFoundError(d.endpointId)
    }
    const { storage } = this.runtime.getConfig().adapters
    const ns = this.runtime.getConfig().ns
    const breaker = this.settings.circuit
      ? new CircuitBreaker(
          storage,
          ns,
          `${this.queue}:circuit:${endpoint.id}`,
          endpoint.id,
          this.settings.circuit,
        )
      : null
    if (breaker) {
      try {
        await breaker.before(`${ctx.id}#${ctx.attempt}`, this.settings.timeoutMs + 5_000)
      } catch (error) {
        if (error instanceof CircuitOpenError) {
          await ctx.log(
            'warn',
            'circuit open, no request sent',
            this.meta(ctx, { retryAfterMs: error.retryAfterMs }),
          )
        }
        throw error
      }
    }
    if (endpoint.rateLimit) {
      await acquireRate(storage, ns, `${this.queue}:rate:${endpoint.id}`, endpoint.rateLimit, ctx.signal)
    }

    const timestamp = Math.floor(Date.now() / 1000)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': this.settings.userAgent,
      'webhook-id': d.webhookId,
      'webhook-timestamp': String(timestamp),
    }
    if (endpoint.secrets.length > 0) {
      headers['webhook-signature'] = signWebhook(d.webhookId, timestamp, d.body, endpoint.secrets)
    }
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new Error('timeout')), this.settings.timeoutMs)
    const combined = anySignal([ctx.signal, deadline.signal])
    const started = performance.now()
    const target = displayUrl(endpoint.url)
    let result: SendResult
    try {
      result = await send(this.dispatcher(endpoint.allowPrivate), {
        url: endpoint.url,
        headers,
        originHeaders: endpoint.headers,
        body: d.body,
        signal: combined.signal,
        maxRedirects: this.settings.maxRedirects,
        snippetBytes: this.settings.snippetBytes,
        maxResponseBytes: 64 * 1024,
      })
    } catch (error) {
      const durationMs = Math.round(performance.now() - started)
      // Cancelled, lease lost or shutting down: the engine knows what to do; no write of ours may land.
      if (ctx.signal.aborted) throw ctx.signal.reason
      const blocked = findSsrf(error)
      if (blocked) {
        ctx.discard()
        await ctx.log(
          'error',
          `POST ${target} refused by the SSRF guard`,
          this.meta(ctx, { error: blocked.message }),
        )
        throw blocked
      }
      const failure = new WebhookNetworkError(target, error, deadline.signal.aborted)
      await breaker?.failure()
      await ctx.log(
        'warn',
        `POST ${target} failed after ${durationMs} ms`,
        this.meta(ctx, { durationMs, error: failure.message }),
      )
      throw failure
    } finally {
      clearTimeout(timer)
      combined.dispose()
    }

    const durationMs = Math.round(performance.now() - started)
    const { status, snippet } = result
    const where = displayUrl(result.url)
    if (status >= 200 && status < 300) {
      await breaker?.success()
      await ctx.log(
        'info',
        `POST ${where} -> ${status} in ${durationMs} ms`,
        this.meta(ctx, { status, durationMs, snippet }),
      )
      return { status, durationMs, attempt: ctx.attempt, webhookId: d.webhookId, url: where }
    }
    const retryable = status === 408 || status === 429 || status >= 500
    const hinted = retryable ? parseRetryAfter(result.headers['retry-after']) : null
    const retryAfterMs = hinted === null ? null : Math.min(hinted, this.settings.maxRetryAfterMs)
    // 429 is the endpoint pacing us, not failing; it does not count towards opening the circuit.
    if (retryable && status !== 429) await breaker?.failure()
    else if (!retryable) await breaker?.success()
    const detail =
      status >= 300 && status < 400
        ? this.settings.maxRedirects === 0
          ? 'a redirect; redirects are off (maxRedirects)'
          : 'too many redirects'
        : undefined
    await ctx.log(
      retryable ? 'warn' : 'error',
      `POST ${where} -> ${status} in ${durationMs} ms`,
      this.meta(ctx, { status, durationMs, snippet, ...(retryAfterMs === null ? {} : { retryAfterMs }) }),
    )
    if (!retryable) ctx.discard()
    throw new WebhookHttpError(status, where, { retryable, retryAfterMs, snippet, detail })
  }

  private meta(ctx: JobContext, fields: Record<string, unknown>): Record<string, unknown> {
    return { attempt: ctx.attempt, ...fields }
  }

  private deliveryId(webhookId: string, endpointId: string): string {
    const id = `${this.queue}:${webhookId}:${endpointId}`
    if (id.length > 240) {
      throw new OqronConfigError(
        `The delivery id "${id}" is too long; use a shorter webhook name, message id or endpoint id.`,
      )
    }
    return id
  }

  private dispatcher(allowPrivate: boolean): Dispatcher {
    let agent = this.agents.get(allowPrivate)
    if (!agent) {
      const s = this.settings
      agent = new Agent({
        // One keep-alive pool per origin; every new socket goes through the SSRF guard.
        connect: guardedConnector({
          allowPrivate,
          lookup: this.options.lookup ?? defaultLookup,
          connect: this.options.connect ?? ((target) => connectSocket(target, s.connectTimeoutMs)),
        }),
        keepAliveTimeout: s.keepAliveTimeoutMs,
        // A server's `Keep-Alive: timeout=…` hint may shorten the idle time, never lengthen it past ours.
        keepAliveMaxTimeout: s.keepAliveTimeoutMs,
        connections: s.connectionsPerOrigin,
        headersTimeout: s.timeoutMs,
        bodyTimeout: s.timeoutMs,
      })
      this.agents.set(allowPrivate, agent)
    }
    return agent
  }

  /** @internal Close every pooled socket (runtime stop). */
  async closePools(): Promise<void> {
    const agents = [...this.agents.values()]
    this.agents.clear()
    await Promise.all(agents.map((a) => a.destroy().catch(() => {})))
  }

  private async endpoints(): Promise<ResolvedEndpoint[]> {
    if (this.staticEndpoints) return this.staticEndpoints
    const source = this.options.endpoints as () => Promise<readonly WebhookEndpoint[]>
    return this.normalizeAll(await source(), `webhook "${this.name}".endpoints()`)
  }

  private normalizeAll(list: readonly WebhookEndpoint[], where: string): ResolvedEndpoint[] {
    if (!Array.isArray(list))
      throw new OqronConfigError(`${where} must be an array of endpoints.`, { field: where })
    const seen = new Set<string>()
    return list.map((ep, i) => {
      const resolved = this.normalize(ep, `${where}[${i}]`)
      if (seen.has(resolved.id)) {
        throw new OqronConfigError(`${where}: two endpoints have the id "${resolved.id}".`, { field: where })
      }
      seen.add(resolved.id)
      return resolved
    })
  }

  private normalize(ep: WebhookEndpoint, where: string): ResolvedEndpoint {
    if (!ep || typeof ep !== 'object')
      throw new OqronConfigError(`${where} must be an object.`, { field: where })
    let url: URL
    try {
      url = new URL(ep.url)
    } catch {
      throw new OqronConfigError(
        `${where}.url must be an absolute http(s) URL, got ${JSON.stringify(ep.url)}.`,
        {
          field: `${where}.url`,
        },
      )
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OqronConfigError(`${where}.url must use http or https.`, { field: `${where}.url` })
    }
    if (url.username || url.password) {
      throw new OqronConfigError(`${where}.url must not carry credentials; use headers.`, {
        field: `${where}.url`,
      })
    }
    const id = ep.id ?? createHash('sha256').update(url.href).digest('hex').slice(0, 16)
    if (typeof id !== 'string' || !ENDPOINT_ID.test(id)) {
      throw new OqronConfigError(`${where}.id must be 1-64 characters of letters, digits, _ . -.`, {
        field: `${where}.id`,
      })
    }
    const events = ep.events ?? ['**']
    if (!Array.isArray(events) || events.length === 0) {
      throw new OqronConfigError(`${where}.events must be a non-empty array of globs.`, {
        field: `${where}.events`,
      })
    }
    for (const [i, p] of events.entries()) assertEventPattern(p, `${where}.events[${i}]`)
    const headers = ep.headers ?? {}
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
      throw new OqronConfigError(`${where}.headers must be an object of header name → string.`, {
        field: `${where}.headers`,
      })
    }
    for (const [k, v] of Object.entries(headers)) {
      if (!HEADER_NAME.test(k)) {
        throw new OqronConfigError(`${where}.headers: ${JSON.stringify(k)} is not a valid header name.`, {
          field: `${where}.headers`,
        })
      }
      if (RESERVED_HEADERS.has(k.toLowerCase())) {
        throw new OqronConfigError(
          `${where}.headers.${k} is set by the delivery itself (framing, content type or signature) and cannot be given.`,
          { field: `${where}.headers` },
        )
      }
      if (typeof v !== 'string' || !HEADER_VALUE.test(v)) {
        throw new OqronConfigError(
          `${where}.headers.${k} must be a string without control characters (no CR, LF or NUL).`,
          { field: `${where}.headers` },
        )
      }
    }
    const secrets = asList(ep.secret ?? this.options.security?.secret)
    for (const [i, s] of secrets.entries()) secretKey(s, `${where}.secret[${i}]`)
    if (secrets.length === 0 && this.options.security?.requireSignature) {
      throw new OqronConfigError(`${where} has no secret, and security.requireSignature is on.`, {
        field: `${where}.secret`,
      })
    }
    let rateLimit: Required<RateLimit> | null = null
    if (ep.rateLimit !== undefined) {
      rateLimit = {
        max: positive(ep.rateLimit?.max, `${where}.rateLimit.max`),
        intervalMs: positive(ep.rateLimit?.intervalMs ?? 1_000, `${where}.rateLimit.intervalMs`),
      }
    }
    const allowPrivate = ep.allowPrivateNetworks ?? this.settings.allowPrivate
    if (typeof allowPrivate !== 'boolean') {
      throw new OqronConfigError(`${where}.allowPrivateNetworks must be true or false.`, {
        field: `${where}.allowPrivateNetworks`,
      })
    }
    return { id, url, events, headers: { ...headers }, secrets, rateLimit, allowPrivate }
  }
}

/** undici hands a connector's error through, but look one level into `cause` in case a version wraps it. */
function findSsrf(error: unknown): SsrfBlockedError | null {
  if (error instanceof SsrfBlockedError) return error
  const cause = (error as { cause?: unknown } | null)?.cause
  return cause instanceof SsrfBlockedError ? cause : null
}

/**
 * Define a webhook dispatcher: `fire(event, payload)` stores one delivery job per matching endpoint, and
 * (unless `worker: false`) this runtime delivers them: signed POSTs through undici, retried with backoff on
 * network errors, 408, 429 and 5xx, with an SSRF guard, a shared circuit breaker per endpoint and every
 * attempt in the job's timeline. Works before or after `init()`.
 */
export function webhook<Payload = unknown>(options: WebhookOptions): Webhook<Payload> {
  if (!options || typeof options !== 'object')
    throw new OqronConfigError('webhook() takes an options object.')
  const runtime = options.runtime ?? OqronKit
  const where = `webhook "${String(options.name)}"`
  // Not String(name): a missing name would become the valid name "undefined".
  if (typeof options.name !== 'string') {
    throw new OqronConfigError(`${where}: name is required, a string of letters, digits, _ . : -.`, {
      field: 'name',
    })
  }
  if (options.endpoints === undefined || options.endpoints === null) {
    throw new OqronConfigError(
      `${where}.endpoints is required: an array of { url, events } or a function returning one.`,
      {
        field: `${where}.endpoints`,
      },
    )
  }
  const d = webhookDefaults
  const resolved = resolveWorkOptions(
    where,
    { ...options, retries: withRetryDefaults(options.retries) },
    { guaranteedWorker: d.guaranteedWorker, concurrency: d.concurrency },
    (m) => console.warn(`[oqronkit] ${m}`),
  )
  const circuitOption = options.circuitBreaker ?? d.circuitBreaker
  const circuit =
    circuitOption === false
      ? null
      : {
          failureThreshold: positive(
            circuitOption.failureThreshold ?? circuitDefaults.failureThreshold,
            `${where}.circuitBreaker.failureThreshold`,
          ),
          resetTimeoutMs: positive(
            circuitOption.resetTimeoutMs ?? circuitDefaults.resetTimeoutMs,
            `${where}.circuitBreaker.resetTimeoutMs`,
          ),
        }
  const allowPrivate = options.allowPrivateNetworks ?? d.allowPrivateNetworks
  if (typeof allowPrivate !== 'boolean') {
    throw new OqronConfigError(`${where}.allowPrivateNetworks must be true or false.`, {
      field: `${where}.allowPrivateNetworks`,
    })
  }
  for (const fn of ['lookup', 'connect'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') {
      throw new OqronConfigError(`${where}.${fn} must be a function.`, { field: `${where}.${fn}` })
    }
  }
  const hook = new Webhook<Payload>(options.name, runtime, options, resolved, {
    timeoutMs: timerMs(options.timeoutMs ?? d.timeoutMs, `${where}.timeoutMs`),
    allowPrivate,
    maxRedirects: positive(options.maxRedirects ?? d.maxRedirects, `${where}.maxRedirects`, true),
    circuit,
    snippetBytes: positive(
      options.responseSnippetBytes ?? d.responseSnippetBytes,
      `${where}.responseSnippetBytes`,
      true,
    ),
    maxRetryAfterMs: positive(options.maxRetryAfterMs ?? d.maxRetryAfterMs, `${where}.maxRetryAfterMs`, true),
    connectTimeoutMs: timerMs(options.connectTimeoutMs ?? d.connectTimeoutMs, `${where}.connectTimeoutMs`),
    keepAliveTimeoutMs: timerMs(
      options.keepAliveTimeoutMs ?? d.keepAliveTimeoutMs,
      `${where}.keepAliveTimeoutMs`,
    ),
    connectionsPerOrigin: positive(
      options.connectionsPerOrigin ?? resolved.concurrency,
      `${where}.connectionsPerOrigin`,
    ),
    userAgent: typeof options.userAgent === 'string' ? options.userAgent : d.userAgent,
  })
  runtime.define({
    kind: 'webhook',
    name: hook.name,
    queue: hook.queue,
    consumer:
      (options.worker ?? d.worker)
        ? { handler: (ctx: JobContext<DeliveryData>) => hook.deliver(ctx), options: resolved }
        : undefined,
  })
  runtime.onStop(() => hook.closePools())
  return hook
}
