import { randomUUID } from 'node:crypto'
import type { OqronAdapters } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { postgresAdapter } from '@oqronkit/postgres'
import { redisAdapter } from '@oqronkit/redis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A durable backend: `make()` returns a new adapter set (a new "node") on the same isolated keyspace. */
export interface Backend {
  name: 'redis' | 'postgres'
  /** JSON the child fixture needs to reach the same keyspace. */
  spec: { kind: 'redis' | 'postgres'; url: string; prefix?: string; schema?: string }
  make(): OqronAdapters
  cleanup(): Promise<void>
}

export function redisBackend(): Backend {
  const prefix = `crontest${randomUUID().slice(0, 8)}`
  return {
    name: 'redis',
    spec: { kind: 'redis', url: REDIS_URL, prefix },
    make: () => redisAdapter({ url: REDIS_URL }, { prefix, checkEvictionPolicy: false }),
    async cleanup() {
      const { Redis } = await import('ioredis')
      const client = new Redis(REDIS_URL)
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        cursor = next
        if (keys.length) await client.del(...keys)
      } while (cursor !== '0')
      await client.quit()
    },
  }
}

export function postgresBackend(): Backend {
  const schema = `crontest_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  return {
    name: 'postgres',
    spec: { kind: 'postgres', url: DATABASE_URL, schema },
    make: () => postgresAdapter({ url: DATABASE_URL }, { schema }),
    async cleanup() {
      const { default: postgres } = await import('postgres')
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
      await sql.unsafe(`drop schema if exists "${schema}" cascade`)
      await sql.end()
    },
  }
}

export function fromSpec(spec: Backend['spec']): OqronAdapters {
  if (spec.kind === 'redis')
    return redisAdapter({ url: spec.url }, { prefix: spec.prefix, checkEvictionPolicy: false })
  return postgresAdapter({ url: spec.url }, { schema: spec.schema })
}

export { memoryAdapter }
