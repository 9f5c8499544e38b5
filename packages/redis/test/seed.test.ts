// The seed document's code, run as written on Redis: the only change from the in-memory run is
// `adapters: redisAdapter(...)` in init() (see packages/oqronkit/test/seed-examples.ts).
import { Redis } from 'ioredis'
import { redisAdapter } from 'oqronkit/redis'
import { afterAll, describe } from 'vitest'
import { runSeedExamples } from '../../oqronkit/test/seed-examples.js'
import { deleteKeys, REDIS_URL, randomPrefix, requireRedis } from './helpers.js'

const available = await requireRedis(REDIS_URL)
const prefix = randomPrefix('seed')

afterAll(async () => {
  if (!available) return
  const admin = new Redis(REDIS_URL)
  await deleteKeys(admin, prefix)
  admin.disconnect()
})

describe.skipIf(!available)('on Redis', () => {
  runSeedExamples(' on Redis', () => ({ adapters: redisAdapter({ url: REDIS_URL }, { prefix }) }))
})
