export { type CircuitBreakerOptions, circuitDefaults } from './circuit.js'
export {
  CircuitOpenError,
  EndpointNotFoundError,
  type RetryAfterHint,
  SsrfBlockedError,
  WebhookHttpError,
  WebhookNetworkError,
  WebhookVerificationError,
} from './errors.js'
export { eventMatches } from './glob.js'
export { connectSocket } from './http.js'
export type { RateLimit } from './rate-limit.js'
export {
  type HeaderSource,
  type RawBody,
  signWebhook,
  type VerifiedWebhook,
  type VerifyOptions,
  verifyDefaults,
  verifyWebhook,
  type WebhookSecret,
} from './signing.js'
export {
  blockedReason,
  type ConnectTarget,
  defaultLookup,
  type LookupFunction,
  type SocketConnector,
} from './ssrf.js'
export {
  type Delivery,
  type DeliveryData,
  type DeliveryResult,
  type EndpointSource,
  type FiredDelivery,
  type FireOptions,
  type ListDeliveriesOptions,
  parseRetryAfter,
  Webhook,
  type WebhookEndpoint,
  type WebhookOptions,
  type WebhookSecurityOptions,
  webhook,
  webhookDefaults,
  webhookRetryDefaults,
} from './webhook.js'
