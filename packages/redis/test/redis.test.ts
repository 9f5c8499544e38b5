import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { redisAdapter } from '../src/index.js'
import { scriptSource } from '../src/scripts.js'
import {
  countKeys,
  deleteKeys,
  newJob,
  REDIS_URL,
  randomNs,
  randomPrefix,
  redisNow,
  requireRedis,
  sleep,
} from './helpers.js'
import { adapterSuite } from './suite.js'

const available = await requireRedis(REDIS_URL)
const prefix = randomPrefix('standalone')
const admin = new Redis(REDIS_URL, { lazyConnect: true })
admin.on('error', () => {})

afterAll(async () => {
  if (available) {
    await deleteKeys(admin, prefix)
    expect(await countKeys(admin, prefix)).toBe(0)
  }
  admin.disconnect()
})

describe.skipIf(!available)('redis adapter (standalone)', () => {
  adapterSuite({ create: () => redisAdapter({ url: REDIS_URL }, { prefix }), admin: () => admin })
})

/** The adapter's connections to the server, found by the connection name given through redisOptions. */
async function connectionsNamed(name: string): Promise<{ id: string; flags: string; cmd: string }[]> {
  const list = (await admin.client('LIST')) as string
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => {
      const field = (key: string) => new RegExp(`(?:^| )${key}=(\\S*)`).exec(line)?.[1] ?? ''
      return { id: field('id'), flags: field('flags'), cmd: field('cmd') }
    })
}

describe.skipIf(!available)('redis adapter: connections, settings and scripts', () => {
  it('keeps every key of a queue under one hash tag, and ns/queue names escaped', async () => {
    const ns = 'tag:{test}%'
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    await adapters.broker.add(ns, newJob({ queue: 'a:b}c' }))
    const [c] = await adapters.broker.claim(ns, 'a:b}c', { workerId: 'w', limit: 1, leaseMs: 5_000 })
    // progress stores timeline entries (the plain add -> active -> completed path stores none).
    await adapters.broker.progress(ns, c!.id, c!.token!, 50, null)
    await adapters.broker.complete(ns, c!.id, c!.token!, 1)
    await adapters.close()
    const keys = await admin.keys(`${prefix}:{tag%3A%7Btest%7D%25:a%3Ab%7Dc}:*`)
    expect(keys.length).toBeGreaterThanOrEqual(6)
    const slots = new Set(await Promise.all(keys.map((k) => admin.cluster('KEYSLOT', k).catch(() => null))))
    // CLUSTER KEYSLOT works on standalone servers that have cluster support compiled in (all 7.x).
    if (!slots.has(null)) expect(slots.size).toBe(1)
  })

  it('warns once per server unless maxmemory-policy is noeviction, and tolerates CONFIG being disabled', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const [, original] = (await admin.config('GET', 'maxmemory-policy')) as string[]
    try {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
      const first = redisAdapter({ url: REDIS_URL }, { prefix })
      const second = redisAdapter({ url: REDIS_URL }, { prefix })
      await first.open?.()
      await second.open?.()
      await first.close()
      await second.close()
      const warnings = warn.mock.calls.map((args) => String(args[0]))
      expect(warnings.filter((w) => w.includes('maxmemory-policy'))).toHaveLength(1)
      expect(warnings[0]).toContain('"allkeys-lru"')
      expect(warnings[0]).toContain('noeviction')
    } finally {
      await admin.config('SET', 'maxmemory-policy', original!)
      warn.mockRestore()
    }
    // A managed Redis without CONFIG: the adapter reads INFO instead, and neither failing stops open().
    const client = new Redis(REDIS_URL)
    vi.spyOn(client, 'config').mockRejectedValue(new Error("ERR unknown command 'CONFIG'"))
    const info = vi.spyOn(client, 'info')
    const adapters = redisAdapter({ client }, { prefix })
    await adapters.open?.()
    expect(info).toHaveBeenCalledWith('memory')
    info.mockRejectedValue(new Error('ERR unknown command'))
    const again = redisAdapter({ client }, { prefix })
    await expect(again.open?.()).resolves.toBeUndefined()
    await adapters.close()
    await again.close()
    client.disconnect()
  })

  it('does not close a client it was given, but closes the pub/sub connections it made', async () => {
    const name = `oq-owned-${Math.random().toString(36).slice(2, 8)}`
    const client = new Redis(REDIS_URL, { connectionName: name })
    const adapters = redisAdapter({ client }, { prefix })
    const ns = randomNs()
    await adapters.broker.waitForWork(ns, 'q', 1_000, new AbortController().signal)
    const off = await adapters.broker.onCancel(ns, () => {})
    expect(await connectionsNamed(name)).toHaveLength(3)
    await off()
    await adapters.close()
    await vi.waitFor(async () => expect(await connectionsNamed(name)).toHaveLength(1))
    expect(await client.ping()).toBe('PONG')
    client.disconnect()
  })

  it('onCancel subscribes while another listener of the namespace unsubscribes, and hears cancels', async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    const stopFirst = await adapters.broker.onCancel(ns, () => {})
    // The second subscription finds the channel already there; the first one's unsubscribe runs before it
    // adds its listener (two runtimes sharing one adapter, one starting while the other stops).
    const heard: string[] = []
    const second = adapters.broker.onCancel(ns, (id) => heard.push(id))
    await stopFirst()
    const stopSecond = await second
    const { job } = await adapters.broker.add(ns, newJob())
    await adapters.broker.cancel(ns, job!.id)
    await vi.waitFor(() => expect(heard).toEqual([job!.id]))
    await stopSecond()
    await adapters.close()
  })

  it('renew refuses a leaseMs that is not a number > 0 with a typed error, and the lease stays as it was', async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    await adapters.broker.add(ns, newJob())
    const [job] = await adapters.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 30_000 })
    const before = await adapters.storage.getJob(ns, job!.id)
    for (const leaseMs of [Number.NaN, Number.POSITIVE_INFINITY, 0, -1_000]) {
      await expect(adapters.broker.renew(ns, job!.id, job!.token!, leaseMs)).rejects.toMatchObject({
        name: 'OqronConfigError',
        field: 'leaseMs',
      })
    }
    expect(await adapters.storage.getJob(ns, job!.id)).toEqual(before)
    expect(await adapters.broker.complete(ns, job!.id, job!.token!, 'done')).toBe(true)
    await adapters.close()
  })

  it('lock acquire and renew refuse a ttlMs too large for a Redis expiry with a typed error, taking nothing', async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    const key = `${prefix}:${ns}:lk:leader`
    for (const ttlMs of [1e20, 1e300]) {
      await expect(adapters.lock.acquire(ns, 'leader', 'a', ttlMs)).rejects.toMatchObject({
        name: 'OqronConfigError',
        field: 'ttlMs',
      })
      // Before: PEXPIRE failed after the lock hash was written, which left a lock without expiry that
      // nobody held and nobody could ever take.
      expect(await admin.exists(key)).toBe(0)
    }
    const token = await adapters.lock.acquire(ns, 'leader', 'b', 60_000)
    expect(token).toEqual(expect.any(String))
    await expect(adapters.lock.renew(ns, 'leader', token!, 1e20)).rejects.toMatchObject({
      name: 'OqronConfigError',
      field: 'ttlMs',
    })
    expect(await adapters.lock.isOwner(ns, 'leader', token!)).toBe(true)
    const ttl = await admin.pttl(key)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(await adapters.lock.release(ns, 'leader', token!)).toBe(true)
    await adapters.close()
  })

  it('recoverStalled refuses a maxStalledCount or limit that is not an integer >= 0 with a typed error, changing nothing', async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    const { job } = await adapters.broker.add(ns, newJob())
    const [claimed] = await adapters.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 1 })
    await vi.waitFor(async () => expect(await redisNow(admin)).toBeGreaterThan(claimed!.lockExpiresAt!))
    const before = await adapters.storage.getJob(ns, job!.id)
    const bad: [string, number | undefined][] = [
      ['maxStalledCount', undefined],
      ['maxStalledCount', Number.NaN],
      ['maxStalledCount', -1],
      ['maxStalledCount', 1.5],
      ['limit', Number.NaN],
      ['limit', -1],
      ['limit', 2.5],
    ]
    for (const [field, value] of bad) {
      const request = { maxStalledCount: 3, limit: 10, [field]: value }
      await expect(adapters.broker.recoverStalled(ns, 'q', request)).rejects.toMatchObject({
        name: 'OqronConfigError',
        field,
      })
      // Before: an absent maxStalledCount failed in the script after the job had left the active set, so it
      // stayed `active` under a dead lease that no later scan would ever find; NaN never failed a poison job.
      expect(await adapters.storage.getJob(ns, job!.id)).toEqual(before)
    }
    const outcomes = await adapters.broker.recoverStalled(ns, 'q', { maxStalledCount: 3, limit: 10 })
    expect(outcomes.map((o) => [o.action, o.job.id, o.job.stalledCount])).toEqual([['requeued', job!.id, 1]])
    await adapters.close()
  })

  it('add refuses a queue name with a newline with a typed error and stores nothing', async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    const job = newJob({ queue: 'a\nb' })
    // Before: stored, but the id index entry (which a newline ends) named queue `a`, so getJob, cancel and
    // removeJob never found the job.
    await expect(adapters.broker.add(ns, job)).rejects.toMatchObject({
      name: 'OqronConfigError',
      field: 'queue',
    })
    expect(await adapters.storage.getJob(ns, job.id)).toBeNull()
    expect(await adapters.storage.listJobs(ns, { limit: 10 })).toEqual({ jobs: [], cursor: null })
    expect(Object.values(await adapters.storage.countJobs(ns, 'a\nb')).every((n) => n === 0)).toBe(true)
    await adapters.close()
  })

  it("waitForWork with a timeout past Node's timer limit waits instead of polling Redis every millisecond", async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    const controller = new AbortController()
    // The first wait subscribes to the queue's wake-ups and returns at once.
    await adapters.broker.waitForWork(ns, 'q', 5_000, controller.signal)
    const day = 24 * 3_600_000
    for (const timeoutMs of [2 ** 31, 30 * day]) {
      let returned = false
      const waiting = adapters.broker.waitForWork(ns, 'q', timeoutMs, controller.signal).then(() => {
        returned = true
      })
      // Before: Node ran a timer past 2^31 - 1 ms after 1 ms, so an idle worker polled Redis in a loop.
      await sleep(150)
      expect(returned).toBe(false)
      // An add still wakes it.
      await adapters.broker.add(ns, newJob())
      await waiting
      const [job] = await adapters.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 5_000 })
      expect(await adapters.broker.complete(ns, job!.id, job!.token!, null)).toBe(true)
    }
    // A delayed job due beyond the timer limit: the wait until it is due stays in force too. (Added before
    // anything listens to its queue, so its wake-up message cannot reach the wait below.)
    await adapters.broker.add(ns, newJob({ queue: 'far', delayMs: 30 * day }))
    await adapters.broker.waitForWork(ns, 'far', 5_000, controller.signal)
    let returned = false
    const waiting = adapters.broker.waitForWork(ns, 'far', 60 * day, controller.signal).then(() => {
      returned = true
    })
    await sleep(150)
    expect(returned).toBe(false)
    controller.abort()
    await waiting
    await adapters.close()
  })

  it('prunes in finishing order among jobs finished in the same millisecond (no tie broken by id)', async () => {
    const adapters = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    for (let i = 0; i < 40; i++) await adapters.broker.add(ns, newJob())
    const claimed = await adapters.broker.claim(ns, 'q', { workerId: 'w', limit: 40, leaseMs: 30_000 })
    expect(claimed).toHaveLength(40)
    // Sent together on the adapter's one command connection, so Redis runs them in this order, tens in
    // one millisecond; the order is neither the creation order nor the order of the ids.
    const order = [...claimed].sort((a, b) => (a.id < b.id ? 1 : -1))
    await Promise.all(order.map((job) => adapters.broker.complete(ns, job.id, job.token!, null)))
    const request = { status: 'completed', keep: 0, maxAgeMs: null, limit: 1 } as const
    const pruned: string[] = []
    for (const job of order) {
      expect(await adapters.storage.prune(ns, 'q', request)).toBe(1)
      pruned.push(job.id)
      expect(await adapters.storage.getJob(ns, job.id)).toBeNull()
    }
    expect(pruned).toEqual(order.map((job) => job.id))
    await adapters.close()
  })

  it('rejects a client with keyPrefix, which scripts cannot honour', () => {
    const client = new Redis(REDIS_URL, { keyPrefix: 'x:', lazyConnect: true })
    expect(() => redisAdapter({ client })).toThrow(/keyPrefix/)
    client.disconnect()
  })

  it('survives killed connections: commands resume and a waiting worker is still woken', async () => {
    const name = `oq-reconnect-${Math.random().toString(36).slice(2, 8)}`
    const adapters = redisAdapter({ url: REDIS_URL, redisOptions: { connectionName: name } }, { prefix })
    const other = redisAdapter({ url: REDIS_URL }, { prefix })
    const ns = randomNs()
    const signal = new AbortController().signal
    const heard: string[] = []
    await adapters.broker.onCancel(ns, (id) => heard.push(id))
    await adapters.broker.waitForWork(ns, 'q', 30_000, signal)
    const waiting = adapters.broker.waitForWork(ns, 'q', 30_000, signal)
    await sleep(50)
    const before = await connectionsNamed(name)
    expect(before).toHaveLength(3)
    for (const connection of before) await admin.client('KILL', 'ID', connection.id)
    // Reconnected: the waiter was woken (a message may have been lost) and may return early; never hangs.
    await waiting
    await vi.waitFor(async () => expect(await connectionsNamed(name)).toHaveLength(3), { timeout: 5_000 })
    const again = adapters.broker.waitForWork(ns, 'q', 30_000, signal)
    await sleep(50)
    const started = performance.now()
    const { job } = await other.broker.add(ns, newJob())
    await again
    expect(performance.now() - started).toBeLessThan(2_000)
    const [claimed] = await adapters.broker.claim(ns, 'q', { workerId: 'w', limit: 1, leaseMs: 5_000 })
    expect(claimed!.id).toBe(job!.id)
    await other.broker.cancel(ns, job!.id)
    await vi.waitFor(() => expect(heard).toEqual([job!.id]))
    await adapters.close()
    await other.close()
  })

  it('ends a process by itself after close(): no connection or timer keeps it alive', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url))
    const child = fileURLToPath(new URL('./fixtures/close-child.ts', import.meta.url))
    const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))
    const started = performance.now()
    const { code, stdout, stderr } = await new Promise<{
      code: number | null
      stdout: string
      stderr: string
    }>((resolve) => {
      const proc = execFile(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', '--import', loader, child],
        { cwd: root, env: { ...process.env, OQ_PREFIX: prefix }, timeout: 20_000 },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (proc.exitCode ?? -1) : 0,
            stdout: String(stdout),
            stderr: String(stderr),
          }),
      )
    })
    expect(stderr).toBe('')
    expect(stdout.trim()).toBe('closed')
    expect(code).toBe(0)
    expect(performance.now() - started).toBeLessThan(15_000)
  })
})

describe('scripts', () => {
  const dir = fileURLToPath(new URL('../src/commands/', import.meta.url))
  const files = readdirSync(dir).filter((f) => f.endsWith('.lua'))

  it('are one file per command named <name>-<numKeys>.lua, each documenting KEYS, ARGV and the return value', () => {
    expect(files.length).toBeGreaterThanOrEqual(20)
    for (const file of files) {
      const match = /^([a-z-]+)-(\d+)\.lua$/.exec(file)
      expect(match, file).not.toBeNull()
      const source = readFileSync(dir + file, 'utf8')
      const header = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1] ?? ''
      expect(header, file).toMatch(/KEYS\[1\]/)
      expect(header, file).toMatch(/Returns/)
      if (/ARGV\[/.test(source.slice(header.length))) expect(header, file).toMatch(/ARGV\[1\]/)
      const used = [...source.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]))
      expect(Math.max(...used), `${file} declares ${match![2]} keys`).toBe(Number(match![2]))
    }
  })

  it('never use KEYS or SCAN (no O(n) key-space walks) and read time only from Redis', () => {
    for (const file of files) {
      const source = readFileSync(dir + file, 'utf8')
      expect(source, file).not.toMatch(/redis\.call\(\s*'(KEYS|SCAN)'/i)
    }
    expect(scriptSource('claim')).toContain("redis.call('TIME')")
  })
})
