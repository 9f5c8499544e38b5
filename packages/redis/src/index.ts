export { redisAdapter } from './adapter.js'
export { MAX_PRIORITY } from './broker.js'
export { escapeSegment, type NamespaceKeys, namespaceKeys, type QueueKeys, queueKeys } from './keys.js'
export {
  type RedisAdapterOptions,
  type RedisClientConnection,
  type RedisConnection,
  type RedisUrlConnection,
  redisAdapterDefaults,
} from './options.js'
