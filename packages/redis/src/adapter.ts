import { type OqronAdapters, OqronConfigError } from '@oqronkit/core'
import { Cluster, Redis } from 'ioredis'
import { Backend, guard } from './backend.js'
import { RedisBroker } from './broker.js'
import { ChannelHub, closeClient } from './hub.js'
import { RedisLock } from './lock.js'
import { type RedisAdapterOptions, type RedisConnection, redisAdapterDefaults } from './options.js'
import { defineScripts, type RedisClient } from './scripts.js'
import { RedisStorage } from './storage.js'
import { watchReplies } from './watchdog.js'

/** Servers already warned about, so many adapters on one server warn once per process. */
const warnedServers = new Set<string>()

function describe(node: Redis): string {
  const { host, port, path } = node.options
  return path ? String(path) : `${host ?? '127.0.0.1'}:${port ?? 6379}`
}

function policyFrom(reply: unknown): string | null {
  if (Array.isArray(reply)) return typeof reply[1] === 'string' ? reply[1] : null
  if (reply && typeof reply === 'object') {
    const value = (reply as Record<string, unknown>)['maxmemory-policy']
    return typeof value === 'string' ? value : null
  }
  return null
}

/** `CONFIG GET maxmemory-policy`, or the same from `INFO memory` where CONFIG is disabled (managed Redis). */
async function evictionPolicy(node: Redis): Promise<string | null> {
  try {
    const policy = policyFrom(await node.config('GET', 'maxmemory-policy'))
    if (policy) return policy
  } catch {
    // CONFIG renamed or disabled: try INFO
  }
  try {
    const info = await node.info('memory')
    return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null
  } catch {
    return null
  }
}

async function checkEvictionPolicy(client: RedisClient): Promise<void> {
  let nodes: Redis[]
  if (client instanceof Cluster) {
    await client.ping()
    nodes = client.nodes('master')
  } else {
    nodes = [client]
  }
  for (const node of nodes) {
    const policy = await evictionPolicy(node)
    const server = describe(node)
    if (policy === null || policy === 'noeviction' || warnedServers.has(server)) continue
    warnedServers.add(server)
    console.warn(
      `[@oqronkit/redis] Redis at ${server} has maxmemory-policy "${policy}". Set it to "noeviction" ` +
        '(redis.conf `maxmemory-policy noeviction`, or CONFIG SET maxmemory-policy noeviction): under ' +
        'memory pressure an evicting Redis silently deletes job records and lease keys, which loses jobs ' +
        'or runs them twice. With noeviction, writes fail loudly instead.',
    )
  }
}

/**
 * The Redis adapter: storage, broker and lock on ioredis.
 *
 * ```ts
 * await OqronKit.init({ adapters: redisAdapter({ url: process.env.REDIS_URL }) })
 * redisAdapter({ client: new Redis.Cluster([{ host: '127.0.0.1', port: 7000 }]) }, { prefix: 'shop' })
 * ```
 *
 * Connections: one for commands (yours, when you pass `client`), and two created on demand for pub/sub
 * (wake-ups of idle workers, cancellations), so neither can delay a heartbeat.
 */
export function redisAdapter(
  connection: RedisConnection = {},
  options: RedisAdapterOptions = {},
): OqronAdapters {
  const prefix = options.prefix ?? redisAdapterDefaults.prefix
  if (typeof prefix !== 'string' || prefix === '' || /[{}]/.test(prefix)) {
    throw new OqronConfigError(
      `redisAdapter prefix must be a non-empty string without braces, got "${prefix}".`,
      {
        field: 'prefix',
      },
    )
  }
  const addBatchSize = options.addBatchSize ?? redisAdapterDefaults.addBatchSize
  if (!Number.isInteger(addBatchSize) || addBatchSize < 1 || addBatchSize > 1_000) {
    throw new OqronConfigError(
      `redisAdapter addBatchSize must be an integer from 1 to 1000, got ${addBatchSize}.`,
      {
        field: 'addBatchSize',
      },
    )
  }

  const replyTimeoutMs = options.replyTimeoutMs ?? redisAdapterDefaults.replyTimeoutMs
  if (!Number.isInteger(replyTimeoutMs) || replyTimeoutMs < 0) {
    throw new OqronConfigError(
      `redisAdapter replyTimeoutMs must be a non-negative integer (0 turns it off), got ${replyTimeoutMs}.`,
      { field: 'replyTimeoutMs' },
    )
  }

  let client: RedisClient
  let owned: boolean
  if ('client' in connection && connection.client) {
    client = connection.client
    owned = false
    const keyPrefix =
      client instanceof Cluster ? client.options.redisOptions?.keyPrefix : (client as Redis).options.keyPrefix
    if (keyPrefix) {
      throw new OqronConfigError(
        'The ioredis client passed to redisAdapter uses keyPrefix, which its Lua scripts cannot honour. Remove keyPrefix and pass redisAdapter(..., { prefix }) instead.',
        { field: 'client' },
      )
    }
  } else {
    const { url, redisOptions } = connection as { url?: string; redisOptions?: object }
    client = new Redis(url ?? redisAdapterDefaults.url, {
      lazyConnect: true,
      enableAutoPipelining: true,
      ...redisOptions,
    })
    owned = true
    // Connection errors surface on the commands that hit them; this only keeps ioredis from logging each one.
    client.on('error', () => {})
  }
  // A command connection found half-open means the path to the server is dead: the pub/sub connections, idle
  // and owing nothing, would not notice by themselves, so they are renewed with it.
  const renewSubscribers = () => {
    backend.wakeHub.reset()
    backend.cancelHub.reset()
  }
  const stopWatching =
    owned && replyTimeoutMs > 0 ? watchReplies(client as Redis, replyTimeoutMs, renewSubscribers) : () => {}
  defineScripts(client)

  const subscriber = (): RedisClient => {
    const sub: RedisClient = client instanceof Cluster ? client.duplicate() : client.duplicate()
    sub.on('error', () => {})
    // The pub/sub connections are the adapter's own whichever client it was given: a SUBSCRIBE or
    // UNSUBSCRIBE left unanswered on a half-open one is ended the same way (ioredis re-subscribes), and an
    // idle one is PINGed so that it owes a reply now and then: a subscriber that went half-open alone, the
    // command connection healthy, is found too.
    if (!(sub instanceof Cluster) && replyTimeoutMs > 0)
      sub.once('end', watchReplies(sub, replyTimeoutMs, undefined, true))
    return sub
  }
  const backend = new Backend(
    client,
    prefix,
    options.clusterMode ?? client instanceof Cluster,
    new ChannelHub(subscriber),
    new ChannelHub(subscriber),
  )
  const checkPolicy = options.checkEvictionPolicy ?? redisAdapterDefaults.checkEvictionPolicy

  return {
    name: 'redis',
    storage: new RedisStorage(backend),
    broker: new RedisBroker(backend, addBatchSize),
    lock: new RedisLock(backend),
    async open() {
      await guard('open', async () => {
        if (owned && client.status === 'wait') await client.connect()
        if (checkPolicy) await checkEvictionPolicy(client)
      })
    },
    async close() {
      if (backend.closed) return
      backend.closed = true
      stopWatching()
      for (const wake of [...backend.waiters]) wake()
      await Promise.all([backend.wakeHub.close(), backend.cancelHub.close()])
      if (owned) await closeClient(client)
    },
  }
}
