import { randomBytes } from 'node:crypto'
import type { NewJob } from '@oqronkit/core'
import { newJob as defaultJob } from '@oqronkit/testkit'
import { Cluster, Redis } from 'ioredis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * Whether a Redis answers at `url`. Under CI=true an unreachable server is an error (the file fails);
 * locally the tests that need it are skipped with a message.
 */
export async function requireRedis(url: string, what = 'Redis'): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
    return true
  } catch (error) {
    const message = `${what} is not reachable at ${url} (${(error as Error).message})`
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${message}; CI needs it.`)
    console.warn(`${message}: skipping its tests. Start redis-server or set REDIS_URL.`)
    return false
  } finally {
    probe.disconnect()
  }
}

export function randomPrefix(label: string): string {
  return `oqtest-${label}-${randomBytes(4).toString('hex')}`
}

export function randomNs(): string {
  return `ns-${randomBytes(4).toString('hex')}`
}

/** Deletes every key under `prefix` on every master (SCAN is fine in tests, never in the adapter). */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      for (const key of keys) await node.del(key)
    } while (cursor !== '0')
  }
}

export async function countKeys(client: Redis | Cluster, prefix: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  let count = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      count += keys.length
    } while (cursor !== '0')
  }
  return count
}

/** Milliseconds by the Redis server's clock. */
export async function redisNow(client: Redis | Cluster): Promise<number> {
  const [seconds, micros] = await client.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

let counter = 0
/** testkit's default job for queue `q` with a traceable id and data `{ n }`, `overrides` on top. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  counter++
  return defaultJob('q', {
    id: `job-${counter}-${randomBytes(3).toString('hex')}`,
    data: { n: counter },
    ...overrides,
  })
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
