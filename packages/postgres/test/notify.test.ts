import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PostgresAdapters, postgresAdapter } from '../src/index.js'
import { adminSql, DATABASE_URL, newJob, openAdapter, runSuite, sleep } from './helpers.js'

/** Resolves with the elapsed ms of a waitForWork that starts after a claim that found nothing. */
async function timedWait(
  a: PostgresAdapters,
  ns: string,
  queue: string,
  timeoutMs: number,
  signal?: AbortSignal,
) {
  expect(await a.broker.claim(ns, queue, { workerId: 'w', limit: 1, leaseMs: 1000 })).toEqual([])
  const t0 = performance.now()
  await a.broker.waitForWork(ns, queue, timeoutMs, signal ?? new AbortController().signal)
  return performance.now() - t0
}

describe.runIf(runSuite)('wake-ups and cancel via LISTEN/NOTIFY', () => {
  let a: PostgresAdapters
  let b: PostgresAdapters
  let schema: string
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    ;({ a, schema, cleanup } = await openAdapter())
    b = postgresAdapter({ url: DATABASE_URL }, { schema })
    await b.open()
    // warm the LISTEN connections: the first wait after a (re)listen returns at once by design
    await timedWait(a, 'warm', 'q', 10)
    await timedWait(b, 'warm', 'q', 10)
  })
  afterAll(async () => {
    await b.close()
    await cleanup()
  })

  test('an idle waiter wakes on an add from another node, long before its timeout', async () => {
    const waiting = timedWait(a, 'n1', 'q', 10_000)
    await sleep(100)
    await b.broker.add('n1', newJob('q'))
    expect(await waiting).toBeLessThan(2_000)
    expect((await a.broker.claim('n1', 'q', { workerId: 'w', limit: 1, leaseMs: 1000 })).length).toBe(1)
  })

  test('an add between an empty claim and waitForWork is not missed', async () => {
    expect(await a.broker.claim('n2', 'q', { workerId: 'w', limit: 1, leaseMs: 1000 })).toEqual([])
    await b.broker.add('n2', newJob('q'))
    await sleep(100) // the notification arrives before anyone waits
    const t0 = performance.now()
    await a.broker.waitForWork('n2', 'q', 10_000, new AbortController().signal)
    expect(performance.now() - t0).toBeLessThan(1_000)
  })

  test('no work: waits for the slow-poll timeout, not less', async () => {
    const elapsed = await timedWait(a, 'n3', 'q', 300)
    expect(elapsed).toBeGreaterThanOrEqual(290)
  })

  test('adds to other queues or namespaces do not wake the waiter', async () => {
    const waiting = timedWait(a, 'n4', 'q', 400)
    await sleep(50)
    await b.broker.add('n4', newJob('other'))
    await b.broker.add('n4b', newJob('q'))
    expect(await waiting).toBeGreaterThanOrEqual(390)
  })

  test('an abort resolves the wait at once', async () => {
    const ac = new AbortController()
    const waiting = timedWait(a, 'n5', 'q', 10_000, ac.signal)
    await sleep(50)
    ac.abort()
    expect(await waiting).toBeLessThan(1_000)
  })

  test('waitForWork wakes when a delayed job comes due (timeout from the next due time)', async () => {
    await b.broker.add('n6', newJob('q', { delayMs: 500 }))
    const elapsed = await timedWait(a, 'n6', 'q', 10_000)
    expect(elapsed).toBeGreaterThanOrEqual(400)
    expect(elapsed).toBeLessThan(2_000)
    expect((await a.broker.claim('n6', 'q', { workerId: 'w', limit: 1, leaseMs: 1000 })).length).toBe(1)
  })

  test('a delayed add while waiting shortens the wait to its due time', async () => {
    const waiting = timedWait(a, 'n7', 'q', 10_000)
    await sleep(50)
    await b.broker.add('n7', newJob('q', { delayMs: 300 }))
    const elapsed = await waiting
    expect(elapsed).toBeGreaterThanOrEqual(300)
    expect(elapsed).toBeLessThan(2_000)
  })

  test('resume, release, retrying and enabling wake waiters', async () => {
    await b.broker.pause('n8', 'q')
    await b.broker.add('n8', newJob('q'))
    let waiting = timedWait(a, 'n8', 'q', 10_000)
    await sleep(50)
    await b.broker.resume('n8', 'q')
    expect(await waiting).toBeLessThan(2_000)
    const [job] = await b.broker.claim('n8', 'q', { workerId: 'w', limit: 1, leaseMs: 10_000 })
    waiting = timedWait(a, 'n8', 'q', 10_000)
    await sleep(50)
    await b.broker.release('n8', job!.id, job!.token!)
    expect(await waiting).toBeLessThan(2_000)
    await b.broker.setDisabled('n8', 'q', true)
    waiting = timedWait(a, 'n8', 'q', 10_000)
    await sleep(50)
    await b.broker.setDisabled('n8', 'q', false)
    expect(await waiting).toBeLessThan(2_000)
  })

  test('onCancel is delivered to every node via NOTIFY; unsubscribe stops it', async () => {
    const seenA: string[] = []
    const seenB: string[] = []
    const offA = await a.broker.onCancel('c1', (id) => seenA.push(id))
    const offB = await b.broker.onCancel('c1', (id) => seenB.push(id))
    const offOther = await a.broker.onCancel('c2', (id) => seenA.push(`other:${id}`))
    await b.broker.add('c1', newJob('q', { id: 'victim' }))
    await b.broker.cancel('c1', 'victim')
    for (let i = 0; i < 50 && (seenA.length === 0 || seenB.length === 0); i++) await sleep(20)
    expect(seenA).toEqual(['victim'])
    expect(seenB).toEqual(['victim'])
    await offA()
    await b.broker.add('c1', newJob('q', { id: 'victim2' }))
    await b.broker.cancel('c1', 'victim2')
    for (let i = 0; i < 50 && seenB.length < 2; i++) await sleep(20)
    expect(seenB).toEqual(['victim', 'victim2'])
    expect(seenA).toEqual(['victim'])
    await offB()
    await offOther()
  })

  test('after the LISTEN connection is killed, the adapter re-listens and wakes again', async () => {
    const c = postgresAdapter({ url: DATABASE_URL }, { schema, relistenDelayMs: 50 })
    try {
      const cancels: string[] = []
      await c.broker.onCancel('r1', (id) => cancels.push(id))
      const pid = await c.listenerPid()
      const admin = adminSql()
      await admin`select pg_terminate_backend(${pid})`
      await admin.end()
      // the waiter started around the drop wakes once after the re-listen (missed notifications)
      await c.broker.waitForWork('r1', 'q', 5_000, new AbortController().signal)
      let newPid = pid
      for (let i = 0; i < 100 && newPid === pid; i++) {
        await sleep(20)
        newPid = await c.listenerPid()
      }
      expect(newPid).not.toBe(pid)
      // and live notifications flow again on the new connection
      const waiting = timedWait(c, 'r1', 'q', 10_000)
      await sleep(50)
      await b.broker.add('r1', newJob('q', { id: 'after-drop' }))
      expect(await waiting).toBeLessThan(2_000)
      await b.broker.cancel('r1', 'after-drop')
      for (let i = 0; i < 50 && cancels.length === 0; i++) await sleep(20)
      expect(cancels).toEqual(['after-drop'])
    } finally {
      await c.close()
    }
  })

  test('close() leaves no sockets or timers behind, even with waiters and listeners', async () => {
    // getActiveResourcesInfo is in Node 20 but missing from the pinned @types/node
    const info = (process as unknown as { getActiveResourcesInfo: () => string[] }).getActiveResourcesInfo
    const handles = () => info().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length
    const before = handles()
    const c = postgresAdapter({ url: DATABASE_URL }, { schema })
    await c.open()
    await c.broker.onCancel('h', () => {})
    const waiting = c.broker.waitForWork('h', 'q', 60_000, new AbortController().signal)
    await c.broker.add('h', newJob('q'))
    await c.lock.acquire('h', 'k', 'o', 1000)
    await c.close()
    await waiting
    await sleep(50)
    expect(handles()).toBeLessThanOrEqual(before)
  })

  test('close() does not end a client the caller passed in', async () => {
    const sql = adminSql()
    const c = postgresAdapter({ sql }, { schema })
    await c.open()
    await c.broker.onCancel('u', () => {})
    await c.close()
    const [row] = await sql`select 1 as one`
    expect(row!.one).toBe(1)
    await sql.end()
  })
})
