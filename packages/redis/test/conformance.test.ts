// The adapter conformance suite of @oqronkit/testkit against the real Redis at REDIS_URL: every contract
// check, the engine-level runs, and the process checks (a child that closes its adapters exits; SIGKILL and
// SIGSTOP of worker processes). cluster.test.ts runs it on a 3-master cluster.
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { runAdapterContract } from '@oqronkit/testkit'
import { Redis } from 'ioredis'
import { afterAll, describe } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { deleteKeys, REDIS_URL, randomPrefix, requireRedis } from './helpers.js'

const available = await requireRedis(REDIS_URL)
// One prefix for the file (children get it through their options); every check uses its own namespace.
const prefix = randomPrefix('kit')
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))

afterAll(async () => {
  if (!available) return
  const admin = new Redis(REDIS_URL)
  await deleteKeys(admin, prefix)
  admin.disconnect()
})

describe.skipIf(!available)('conformance', () => {
  runAdapterContract({
    name: 'redis',
    create: () => ({
      adapters: redisAdapter({ url: REDIS_URL }, { prefix }),
      connectPeer: () => redisAdapter({ url: REDIS_URL }, { prefix }),
    }),
    capabilities: { completeAndClaim: true, removeOnComplete: true },
    process: {
      module: fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url)),
      export: 'redis',
      options: { url: REDIS_URL, prefix },
      execArgv: ['--conditions=source', '--import', tsx, '--import', loader],
    },
  })
})
