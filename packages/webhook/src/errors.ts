import { OqronError } from '@oqronkit/core'

/**
 * An error that says when the next attempt may start: `retryAfterMs` from now (a `Retry-After` header, an
 * open circuit). The engine uses it instead of the retry policy's backoff; null leaves the policy in charge.
 */
export interface RetryAfterHint {
  readonly retryAfterMs: number | null
}

/** The destination resolved to an address the SSRF guard refuses. Not retried. */
export class SsrfBlockedError extends OqronError {
  readonly hostname: string
  readonly address: string | null
  readonly reason: string

  constructor(hostname: string, address: string | null, reason: string) {
    super(
      'OQRON_WEBHOOK_SSRF',
      `Refused to connect to ${hostname}${address && address !== hostname ? ` (${address})` : ''}: ${reason}. ` +
        'Webhook destinations must be public addresses; set allowPrivateNetworks: true on the webhook or the endpoint to allow private ones.',
    )
    this.hostname = hostname
    this.address = address
    this.reason = reason
  }
}

/** The endpoint answered with a status that is not 2xx. `retryable` for 408, 429 and 5xx. */
export class WebhookHttpError extends OqronError implements RetryAfterHint {
  readonly status: number
  readonly retryable: boolean
  readonly retryAfterMs: number | null
  readonly snippet: string

  constructor(
    status: number,
    url: string,
    options: { retryable: boolean; retryAfterMs: number | null; snippet: string; detail?: string },
  ) {
    super(
      'OQRON_WEBHOOK_HTTP',
      `${url} answered ${status}${options.detail ? ` (${options.detail})` : ''}; ${options.retryable ? 'will retry' : 'not retried: fix the endpoint and resend the delivery'}.`,
    )
    this.status = status
    this.retryable = options.retryable
    this.retryAfterMs = options.retryAfterMs
    this.snippet = options.snippet
  }
}

/** The request could not be completed (DNS, connect, reset, TLS) or ran past `timeoutMs`. Retried. */
export class WebhookNetworkError extends OqronError implements RetryAfterHint {
  readonly timedOut: boolean
  readonly retryAfterMs = null

  constructor(url: string, cause: unknown, timedOut = false) {
    const why = timedOut
      ? 'no complete answer within timeoutMs'
      : cause instanceof Error
        ? `${(cause as { code?: string }).code ?? cause.name}: ${cause.message}`
        : String(cause)
    super('OQRON_WEBHOOK_NETWORK', `Delivery to ${url} failed: ${why}; will retry.`, { cause })
    this.timedOut = timedOut
  }
}

/** The endpoint's circuit breaker is open (it failed repeatedly); no request was sent. Retried. */
export class CircuitOpenError extends OqronError implements RetryAfterHint {
  readonly endpointId: string
  readonly retryAfterMs: number

  constructor(endpointId: string, retryAfterMs: number) {
    super(
      'OQRON_WEBHOOK_CIRCUIT_OPEN',
      `The circuit of endpoint "${endpointId}" is open after repeated failures; no request sent, next try in about ${Math.ceil(retryAfterMs / 1000)} s.`,
    )
    this.endpointId = endpointId
    this.retryAfterMs = retryAfterMs
  }
}

/** The delivery's endpoint no longer exists in `endpoints`. Not retried. */
export class EndpointNotFoundError extends OqronError {
  readonly endpointId: string

  constructor(endpointId: string) {
    super(
      'OQRON_WEBHOOK_ENDPOINT_NOT_FOUND',
      `Endpoint "${endpointId}" is not among the webhook's endpoints any more; the delivery was dropped.`,
    )
    this.endpointId = endpointId
  }
}

/** `verifyWebhook` refused a request. `reason` says which check failed. */
export class WebhookVerificationError extends OqronError {
  readonly reason: 'missing-headers' | 'bad-timestamp' | 'stale-timestamp' | 'bad-signature'

  constructor(reason: WebhookVerificationError['reason'], message: string) {
    super('OQRON_WEBHOOK_VERIFICATION', message)
    this.reason = reason
  }
}
