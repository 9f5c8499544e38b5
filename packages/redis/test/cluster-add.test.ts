// The id index on the Cluster path (`clusterMode: true`, here on the standalone server: the client writes
// the index entry, then stores the job with a second call, as on a real Cluster): an add that finds an
// entry naming another queue without the job there must tell an add still storing it from a crash's leftover.
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { namespaceKeys } from '../src/keys.js'
import { deleteKeys, newJob, REDIS_URL, randomNs, randomPrefix } from './helpers.js'

const prefix = randomPrefix('idrace')
const admin = new Redis(REDIS_URL)
afterAll(async () => {
  await deleteKeys(admin, prefix)
  admin.disconnect()
})

describe('clusterMode: one id makes one job', () => {
  it('concurrent adds of one id to two queues: one is created, the other is its duplicate', async () => {
    const a = redisAdapter({ url: REDIS_URL }, { prefix, clusterMode: true })
    const b = redisAdapter({ url: REDIS_URL }, { prefix, clusterMode: true })
    const ns = randomNs()
    try {
      for (let i = 0; i < 50; i++) {
        const [ra, rb] = await Promise.all([
          a.broker.add(ns, newJob({ id: `same-${i}`, queue: 'qa' })),
          b.broker.add(ns, newJob({ id: `same-${i}`, queue: 'qb' })),
        ])
        expect([ra.outcome, rb.outcome].sort()).toEqual(['created', 'duplicate'])
        const created = ra.outcome === 'created' ? ra : rb
        expect(ra.job!.queue).toBe(created.job!.queue)
        expect(rb.job!.queue).toBe(created.job!.queue)
        expect((await a.storage.getJob(ns, `same-${i}`))!.queue).toBe(created.job!.queue)
      }
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('an entry left by an add that died before storing its job is taken over once it is old', async () => {
    const a = redisAdapter({ url: REDIS_URL }, { prefix, clusterMode: true })
    const ns = randomNs()
    try {
      // What index-set wrote for an add to `qa` that never stored its job, 10 s ago by the server's clock.
      const [seconds] = await admin.time()
      const key = `${namespaceKeys(prefix, ns).idIndex}orphan`
      await admin.set(key, `qa\n${Number(seconds) * 1000 - 10_000}`)
      const t0 = Date.now()
      const added = await a.broker.add(ns, newJob({ id: 'orphan', queue: 'qb' }))
      expect(added.outcome).toBe('created')
      expect(Date.now() - t0).toBeLessThan(1_000)
      expect((await a.storage.getJob(ns, 'orphan'))!.queue).toBe('qb')
      // A bare queue name (what the add script writes off Cluster, or a client before this entry format).
      await admin.set(`${namespaceKeys(prefix, ns).idIndex}bare`, 'qa')
      expect((await a.broker.add(ns, newJob({ id: 'bare', queue: 'qb' }))).outcome).toBe('created')
    } finally {
      await a.close()
    }
  })
})
