import type { Cluster, Redis, RedisOptions } from 'ioredis'

/** Where the adapter connects: a URL (it creates and owns the connections) or your own ioredis client. */
export type RedisConnection = RedisUrlConnection | RedisClientConnection

export interface RedisUrlConnection {
  /**
   * `redis://[[user]:password@]host[:port][/db]` or `rediss://` for TLS.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string | undefined
  /** Extra ioredis options for the connections the adapter creates (TLS, timeouts, retryStrategy...). */
  redisOptions?: RedisOptions | undefined
}

export interface RedisClientConnection {
  /**
   * Your ioredis `Redis` or `Cluster` client. The adapter runs its commands on it and creates its pub/sub
   * connections with `client.duplicate()`; `close()` closes those but never your client. It must not use
   * ioredis' `keyPrefix` (use `prefix` here instead).
   */
  client: Redis | Cluster
}

export interface RedisAdapterOptions {
  /**
   * First segment of every key and channel, so several apps can share one Redis. No braces.
   * @default 'oqron'
   */
  prefix?: string | undefined
  /**
   * Restrict every script to the keys of one queue (one cluster slot) and keep the id index with separate
   * commands. Needed on Redis Cluster, or behind a proxy that shards keys.
   * @default true for an ioredis `Cluster` client, false otherwise
   */
  clusterMode?: boolean | undefined
  /**
   * At `open()`, read `maxmemory-policy` and warn (once per server) unless it is `noeviction`.
   * @default true
   */
  checkEvictionPolicy?: boolean | undefined
  /**
   * Jobs stored per script call in `addBulk` (1..1000); bounds how long one call holds Redis.
   * @default 500
   */
  addBatchSize?: number | undefined
  /**
   * How long the command connection may owe replies without receiving a byte before the adapter takes it for
   * dead and closes it; ioredis reconnects and re-sends the unanswered commands, which the adapter's scripts
   * answer as their first run did. This is what ends a half-open connection (the server or the network gone
   * without a reset: a failover, a dead host, a dropped NAT entry), which otherwise holds every command
   * until TCP keepalive gives up, minutes later. Keep it below `lockTtlMs` minus `heartbeatMs`, so a
   * renewal still lands in time. `0` turns it off. The command connection is watched only when the adapter
   * creates it (`{ url }`): with `{ client }`, the client's timeouts are yours. The pub/sub connections are the
   * adapter's own either way and are watched too (not on a Cluster).
   * @default 10000
   */
  replyTimeoutMs?: number | undefined
}

/** The defaults of `RedisAdapterOptions` (clusterMode is derived from the client, see its doc). */
export const redisAdapterDefaults = {
  url: 'redis://127.0.0.1:6379',
  prefix: 'oqron',
  checkEvictionPolicy: true,
  addBatchSize: 500,
  replyTimeoutMs: 10_000,
} as const satisfies Required<Pick<RedisUrlConnection, 'url'>> &
  Required<Omit<RedisAdapterOptions, 'clusterMode'>>
