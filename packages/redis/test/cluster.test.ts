import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { runAdapterContract } from '@oqronkit/testkit'
import { Cluster } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { haveRedisServer, type LocalCluster, startCluster } from './cluster.js'
import { redisCluster } from './fixtures/adapters.js'
import { countKeys, deleteKeys, newJob, randomNs, randomPrefix } from './helpers.js'
import { adapterSuite } from './suite.js'

const inCi = process.env.CI === 'true' || process.env.CI === '1'
const canRun = haveRedisServer()
if (!canRun) {
  if (inCi) throw new Error('redis-server and redis-cli are needed for the Redis Cluster tests under CI.')
  console.warn('redis-server/redis-cli not found: skipping the Redis Cluster tests.')
}

let cluster: LocalCluster | null = null
const clients: Cluster[] = []
const prefix = randomPrefix('cluster')

function connect(): Cluster {
  const client = new Cluster(cluster!.ports.map((port) => ({ host: '127.0.0.1', port })))
  client.on('error', () => {})
  clients.push(client)
  return client
}

if (canRun) cluster = await startCluster()
const admin = canRun ? connect() : null

afterAll(async () => {
  if (admin) {
    await deleteKeys(admin, prefix)
    expect(await countKeys(admin, prefix)).toBe(0)
  }
  for (const client of clients) client.disconnect()
  await cluster?.stop()
})

describe.skipIf(!canRun)('redis adapter on a 3-master Redis Cluster', () => {
  adapterSuite({
    create: () => redisAdapter({ client: connect() }, { prefix }),
    admin: () => admin!,
  })

  it('spreads queues over the masters, each queue in one slot', async () => {
    const adapters = redisAdapter({ client: connect() }, { prefix })
    const ns = randomNs()
    const queues = Array.from({ length: 12 }, (_, i) => `spread-${i}`)
    for (const queue of queues) await adapters.broker.add(ns, newJob({ queue }))
    const masters = admin!.nodes('master')
    expect(masters).toHaveLength(3)
    const holding = await Promise.all(
      masters.map(async (node) => (await node.keys(`${prefix}:{${ns}:spread-*`)).length > 0),
    )
    expect(holding.filter(Boolean).length).toBeGreaterThan(1)
    for (const queue of queues) {
      const keys = (await Promise.all(masters.map((n) => n.keys(`${prefix}:{${ns}:${queue}}:*`)))).flat()
      const slots = new Set(await Promise.all(keys.map((k) => admin!.cluster('KEYSLOT', k))))
      expect(slots.size).toBe(1)
    }
    await adapters.close()
  })
})

describe.skipIf(!canRun)('conformance on the cluster', () => {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))
  runAdapterContract({
    name: 'redis cluster',
    // Each set owns its Cluster client and closes it, so the no-handles check sees everything closed.
    create: () => ({
      adapters: redisCluster({ ports: cluster!.ports, prefix }),
      connectPeer: () => redisCluster({ ports: cluster!.ports, prefix }),
    }),
    capabilities: { completeAndClaim: true, removeOnComplete: true },
    process: {
      module: fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url)),
      export: 'redisCluster',
      options: { ports: cluster?.ports ?? [], prefix },
      execArgv: ['--conditions=source', '--import', tsx, '--import', loader],
    },
  })
})
