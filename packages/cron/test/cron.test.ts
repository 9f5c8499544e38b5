import { OqronConfigError, OqronManager, OqronRuntime } from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { afterEach, describe, expect, it } from 'vitest'
import { cron, schedule } from '../src/index.js'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const runtimes: OqronRuntime[] = []
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((rt) => rt.stop()))
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function node(
  adapters: ReturnType<typeof memoryAdapter>,
  define: (rt: OqronRuntime) => void,
  clock?: () => number,
) {
  const rt = new OqronRuntime()
  runtimes.push(rt)
  define(rt)
  await rt.init({ adapters, logger: quiet, clock, shutdown: { signals: false, timeoutMs: 1_000 } })
  return rt
}

describe('cron across several runtimes', () => {
  it('three runtimes with the same every-300ms cron: every fire time exactly once, none missed, each handler run once', async () => {
    const adapters = memoryAdapter()
    const runs = new Map<string, number>()
    const define = (rt: OqronRuntime) =>
      cron({
        name: 'tick',
        every: 300,
        runtime: rt,
        handler: async (ctx) => {
          runs.set(ctx.fireAt.toISOString(), (runs.get(ctx.fireAt.toISOString()) ?? 0) + 1)
        },
      })
    const nodes = await Promise.all([node(adapters, define), node(adapters, define), node(adapters, define)])
    await sleep(3_200)
    await Promise.all(nodes.map((rt) => rt.stop()))
    const fires = [...runs.keys()].sort()
    expect(fires.length).toBeGreaterThanOrEqual(8)
    for (const count of runs.values()) expect(count).toBe(1)
    const times = fires.map((f) => Date.parse(f))
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(300)
    for (const t of times) expect(t % 300).toBe(0)
  })

  it('a follower takes over when the leader stops; no fire is lost or doubled', async () => {
    const adapters = memoryAdapter()
    const runs: string[] = []
    const define = (rt: OqronRuntime) =>
      cron({
        name: 'handover',
        every: 200,
        leaderTtlMs: 600,
        runtime: rt,
        handler: async (ctx) => void runs.push(ctx.fireAt.toISOString()),
      })
    const a = await node(adapters, define)
    await sleep(100)
    const b = await node(adapters, define)
    await sleep(700)
    const handles = [a, b]
    await a.stop()
    await sleep(1_000)
    await b.stop()
    expect(handles).toHaveLength(2)
    const sorted = [...runs].sort()
    expect(new Set(sorted).size).toBe(sorted.length)
    const times = sorted.map((f) => Date.parse(f))
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(200)
    expect(times.length).toBeGreaterThanOrEqual(7)
  })

  it('a leader that stops while a long job drains hands leadership over at once; no fire is lost', async () => {
    const adapters = memoryAdapter()
    const gate = { open: false }
    const define = (blocking: boolean) => (rt: OqronRuntime) =>
      cron({
        name: 'drain',
        every: 200,
        overlap: 'run',
        misfireGraceMs: 300,
        leaderTtlMs: 400,
        runtime: rt,
        handler: async () => {
          if (blocking) while (!gate.open) await sleep(10)
        },
      })
    // The leader runs one fire that outlasts misfireGraceMs, so its stop() drains for shutdown.timeoutMs.
    const a = new OqronRuntime()
    runtimes.push(a)
    define(true)(a)
    await a.init({ adapters, logger: quiet, shutdown: { signals: false, timeoutMs: 1_500 } })
    await sleep(500)
    const b = await node(adapters, define(false))
    await sleep(300)
    await a.stop()
    await sleep(600)
    await b.stop()
    gate.open = true
    const page = await adapters.storage.listJobs('default/default', { queue: 'cron:drain', limit: 1000 })
    const times = page.jobs
      .map((j) => Date.parse((j.data as { fireAt: string }).fireAt))
      .sort((x, y) => x - y)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(200)
    expect(times.length).toBeGreaterThanOrEqual(10)
  })

  it('a leader whose lock renewal never answers steps down after leaderTtlMs and sends no second renewal', async () => {
    const adapters = memoryAdapter()
    let hang = false
    const renewals: number[] = []
    const hung = {
      ...adapters,
      lock: Object.create(adapters.lock, {
        renew: {
          value: (...args: Parameters<typeof adapters.lock.renew>) => {
            if (!hang) return adapters.lock.renew(...args)
            renewals.push(Date.now())
            return new Promise<boolean>(() => {})
          },
        },
      }),
    }
    const rt = new OqronRuntime()
    runtimes.push(rt)
    const handle = cron({
      name: 'hung-leader',
      every: 10_000,
      leaderTtlMs: 600,
      runtime: rt,
      handler: async () => {},
    })
    await rt.init({ adapters: hung, logger: quiet, shutdown: { signals: false, timeoutMs: 0 } })
    while (!handle.isLeader) await sleep(10)
    hang = true
    const t0 = Date.now()
    while (handle.isLeader && Date.now() - t0 < 3_000) await sleep(10)
    const steppedDownAfter = Date.now() - t0
    // Renewals go out every 150 ms (leaderTtlMs / 4); the lease counts from the last confirmed one, sent
    // at most one period before the hang began.
    expect(handle.isLeader).toBe(false)
    expect(steppedDownAfter).toBeLessThanOrEqual(600 + 150 + 100)
    await sleep(500)
    // The hung renewal was never repeated behind itself.
    expect(renewals).toHaveLength(1)
  })

  it('a leader whose scheduling pass fails once (a storage blip) retries and goes on firing', async () => {
    const adapters = memoryAdapter()
    let failNext = false
    const flaky = {
      ...adapters,
      storage: Object.create(adapters.storage, {
        getState: {
          value: (...args: Parameters<typeof adapters.storage.getState>) => {
            if (failNext && String(args[1]).endsWith(':last')) {
              failNext = false
              return Promise.reject(new Error('connection reset'))
            }
            return adapters.storage.getState(...args)
          },
        },
      }),
    }
    const runs: string[] = []
    const rt = new OqronRuntime()
    runtimes.push(rt)
    rt.on('error', () => {})
    const handle = cron({
      name: 'blip',
      every: 200,
      runtime: rt,
      handler: async (ctx) => void runs.push(ctx.fireAt.toISOString()),
    })
    await rt.init({ adapters: flaky, logger: quiet, shutdown: { signals: false, timeoutMs: 1_000 } })
    while (!handle.isLeader) await sleep(10)
    await sleep(500)
    failNext = true
    while (failNext) await sleep(10)
    const before = runs.length
    // The failed pass is retried one heartbeat period (1 s here) later; the fires it missed are still due then.
    await sleep(2_000)
    // Still the leader (its renewals succeed), so no other node would fire in its place.
    expect(handle.isLeader).toBe(true)
    expect(runs.length - before).toBeGreaterThanOrEqual(5)
    const times = [...runs].sort().map((f) => Date.parse(f))
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(200)
  })

  it('overlap: skip drops a fire while the previous one still runs; run enqueues it', async () => {
    const adapters = memoryAdapter()
    let now = Date.parse('2026-06-01T00:00:00Z')
    const clock = () => now
    let skipHandle!: ReturnType<typeof cron>
    let runHandle!: ReturnType<typeof cron>
    const gate = { open: false }
    await node(
      adapters,
      (rt) => {
        const handler = async () => {
          while (!gate.open) await sleep(10)
        }
        skipHandle = cron({ name: 'o-skip', every: '1m', overlap: 'skip', runtime: rt, handler })
        runHandle = cron({ name: 'o-run', every: '1m', overlap: 'run', runtime: rt, handler })
      },
      clock,
    )
    for (const h of [skipHandle, runHandle]) await h.tick()
    now += 60_000
    expect((await skipHandle.tick()).fired).toEqual(['2026-06-01T00:01:00.000Z'])
    expect((await runHandle.tick()).fired).toEqual(['2026-06-01T00:01:00.000Z'])
    await sleep(50)
    now += 60_000
    expect(await skipHandle.tick()).toMatchObject({ fired: [], dropped: ['2026-06-01T00:02:00.000Z'] })
    expect((await runHandle.tick()).fired).toEqual(['2026-06-01T00:02:00.000Z'])
    gate.open = true
  })

  it('overlap: skip goes on dropping fires for as long as the previous enqueued fire runs', async () => {
    const adapters = memoryAdapter()
    let now = Date.parse('2026-06-01T00:00:00Z')
    let handle!: ReturnType<typeof cron>
    const gate = { open: false }
    await node(
      adapters,
      (rt) => {
        handle = cron({
          name: 'o-long',
          every: '1m',
          runtime: rt,
          handler: async () => {
            while (!gate.open) await sleep(10)
          },
        })
      },
      () => now,
    )
    await handle.tick()
    now += 60_000
    expect((await handle.tick()).fired).toEqual(['2026-06-01T00:01:00.000Z'])
    await sleep(50)
    for (const minute of ['02', '03', '04']) {
      now += 60_000
      // The 00:01 fire still runs: every later fire is dropped, not only the first one after it.
      expect(await handle.tick()).toMatchObject({ fired: [], dropped: [`2026-06-01T00:${minute}:00.000Z`] })
    }
    gate.open = true
    await sleep(50)
    now += 60_000
    expect((await handle.tick()).fired).toEqual(['2026-06-01T00:05:00.000Z'])
  })
})

describe('missed fires after an outage (injected clock)', () => {
  const T0 = Date.parse('2026-05-01T12:00:00Z')

  async function outage(missedFire: 'skip' | 'run-once' | 'run-all') {
    const adapters = memoryAdapter()
    let now = T0
    const clock = () => now
    let handle!: ReturnType<typeof cron>
    // The same definition on every start, as an app deploys it.
    const define = (rt: OqronRuntime) => {
      handle = cron({
        name: `m-${missedFire}`,
        every: '1m',
        missedFire,
        maxMissedRuns: 3,
        runtime: rt,
        handler: async () => {},
      })
    }
    const first = await node(adapters, define, clock)
    expect((await handle.tick()).fired).toEqual([]) // first start: records now, nothing missed
    now = T0 + 60_000
    expect((await handle.tick()).fired).toEqual(['2026-05-01T12:01:00.000Z'])
    await first.stop()
    // The whole cluster is down for 10 minutes; it comes back 5 s after the 12:11 fire was due.
    now = T0 + 11 * 60_000 + 5_000
    await node(adapters, define, clock)
    // init() already ran the first pass after the outage; this tick queues behind it and finds nothing new.
    expect((await handle.tick()).fired).toEqual([])
    const page = await adapters.storage.listJobs('default/default', {
      queue: `cron:m-${missedFire}`,
      limit: 100,
    })
    const fired = page.jobs.map((j) => (j.data as { fireAt: string }).fireAt).sort()
    return { fired, adapters }
  }

  it('skip: the missed fires are dropped; only the fire still within misfireGraceMs runs', async () => {
    const { fired } = await outage('skip')
    expect(fired).toEqual(['2026-05-01T12:01:00.000Z', '2026-05-01T12:11:00.000Z'])
  })

  it('run-once: the missed fires collapse into one run (the latest), plus the due one', async () => {
    const { fired } = await outage('run-once')
    expect(fired).toEqual([
      '2026-05-01T12:01:00.000Z',
      '2026-05-01T12:10:00.000Z',
      '2026-05-01T12:11:00.000Z',
    ])
  })

  it('run-all: the latest maxMissedRuns missed fires run, plus the due one', async () => {
    const { fired, adapters } = await outage('run-all')
    expect(fired).toEqual([
      '2026-05-01T12:01:00.000Z',
      '2026-05-01T12:08:00.000Z',
      '2026-05-01T12:09:00.000Z',
      '2026-05-01T12:10:00.000Z',
      '2026-05-01T12:11:00.000Z',
    ])
    const stored = await adapters.storage.getJob('default/default', 'cron:m-run-all:2026-05-01T12:08:00.000Z')
    expect(stored).not.toBeNull()
  })
  it('after an outage of more than a million intervals, the due fire (and the kept missed ones) still run', async () => {
    for (const missedFire of ['skip', 'run-once'] as const) {
      const adapters = memoryAdapter()
      let now = T0
      let handle!: ReturnType<typeof cron>
      const define = (rt: OqronRuntime) => {
        handle = cron({
          name: `long-${missedFire}`,
          every: '1s',
          missedFire,
          runtime: rt,
          handler: async () => {},
        })
      }
      const first = await node(adapters, define, () => now)
      await handle.tick()
      await first.stop()
      // 20 days (1.7 million fires of an every-1s cron) later, 500 ms after a fire.
      now = T0 + 20 * 86_400_000 + 500
      await node(adapters, define, () => now)
      await handle.tick()
      const page = await adapters.storage.listJobs('default/default', {
        queue: `cron:long-${missedFire}`,
        limit: 100,
      })
      const fired = page.jobs.map((j) => (j.data as { fireAt: string }).fireAt).sort()
      const due = now - 500
      // With the default misfireGraceMs (20 s) the fires of the last 20 s are due; run-once adds the one before.
      const expected = Array.from({ length: 20 }, (_, i) => new Date(due - (19 - i) * 1_000).toISOString())
      expect(fired.slice(-1)).toEqual([new Date(due).toISOString()])
      expect(fired).toEqual(
        missedFire === 'skip' ? expected : [new Date(due - 20_000).toISOString(), ...expected],
      )
      expect(await handle.tick()).toMatchObject({ fired: [], dropped: [] })
    }
    // Missed fires and none due: the last fire time still moves past the ones dropped.
    const adapters = memoryAdapter()
    let now = T0
    let handle!: ReturnType<typeof cron>
    const define = (rt: OqronRuntime) => {
      handle = cron({ name: 'hourly', every: '1h', runtime: rt, handler: async () => {} })
    }
    const first = await node(adapters, define, () => now)
    await handle.tick()
    await first.stop()
    now = T0 + 5.5 * 3_600_000
    await node(adapters, define, () => now)
    expect(await handle.tick()).toMatchObject({ fired: [], dropped: [] })
    expect(await adapters.storage.getState<number>('default/default', 'cron:hourly:last')).toBeGreaterThan(
      T0 + 5 * 3_600_000,
    )
  })
})

describe('time zones', () => {
  it('fires at 09:00 Europe/London across the spring DST change (09:00Z, then 08:00Z)', async () => {
    const adapters = memoryAdapter()
    let now = Date.parse('2026-03-28T08:00:00Z')
    let handle!: ReturnType<typeof cron>
    await node(
      adapters,
      (rt) => {
        handle = cron({
          name: 'london',
          expression: '0 9 * * *',
          timezone: 'Europe/London',
          runtime: rt,
          handler: async () => {},
        })
      },
      () => now,
    )
    await handle.tick()
    now = Date.parse('2026-03-28T09:00:00Z')
    expect((await handle.tick()).fired).toEqual(['2026-03-28T09:00:00.000Z'])
    now = Date.parse('2026-03-29T07:59:59Z')
    expect((await handle.tick()).fired).toEqual([])
    now = Date.parse('2026-03-29T08:00:00Z')
    expect((await handle.tick()).fired).toEqual(['2026-03-29T08:00:00.000Z'])
    expect(handle.nextRun(new Date('2026-10-24T12:00:00Z'))!.toISOString()).toBe('2026-10-25T09:00:00.000Z')
  })
})

describe('bad input is a typed error at definition time, naming the field', () => {
  const h = async () => {}
  const cases: [string, () => unknown, string][] = [
    [
      'invalid expression',
      () => cron({ name: 'a', expression: 'every tuesday', handler: h }),
      'cron "a".expression',
    ],
    [
      'invalid timezone',
      () => cron({ name: 'b', expression: '* * * * *', timezone: 'Mars/Base', handler: h }),
      'cron "b".timezone',
    ],
    [
      'expression and every',
      () => cron({ name: 'c', expression: '* * * * *', every: '1s', handler: h }),
      'cron "c".every',
    ],
    ['neither', () => cron({ name: 'd', handler: h }), 'cron "d".expression'],
    [
      'expression that never fires (February 30)',
      () => cron({ name: 'i', expression: '0 0 30 2 *', handler: h }),
      'cron "i".expression',
    ],
    ['bad every', () => cron({ name: 'e', every: '1 fortnight', handler: h }), 'cron "e".every'],
    [
      'bad missedFire',
      () => cron({ name: 'f', every: '1s', missedFire: 'later' as never, handler: h }),
      'cron "f".missedFire',
    ],
    [
      'runAt in the past',
      () => schedule({ name: 'g', runAt: new Date(Date.now() - 1_000), handler: h }),
      'schedule "g".runAt',
    ],
    [
      'runAt and every',
      () => schedule({ name: 'h', runAt: new Date(Date.now() + 1_000), every: '1s', handler: h }),
      'schedule "h".every',
    ],
  ]
  for (const [what, define, field] of cases) {
    it(what, () => {
      const rt = new OqronRuntime()
      let caught: unknown
      try {
        ;(define as (rt?: OqronRuntime) => unknown)(rt)
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(OqronConfigError)
      expect((caught as OqronConfigError).field).toBe(field)
    })
  }
})

describe('schedule()', () => {
  it('runs once at runAt, and on demand with trigger() and schedule(); cancel() tombstones what has not run', async () => {
    const adapters = memoryAdapter()
    const ran: { payload: unknown; fireAt: string }[] = []
    let handle!: ReturnType<typeof schedule<{ who: string }>>
    const runAt = new Date(Date.now() + 300)
    const rt = await node(adapters, (rt) => {
      handle = schedule<{ who: string }>({
        name: 'migration',
        runAt,
        payload: { who: 'default' },
        runtime: rt,
        handler: async (ctx) => void ran.push({ payload: ctx.payload, fireAt: ctx.fireAt.toISOString() }),
      })
    })
    await handle.trigger({ who: 'now' })
    const later = await handle.schedule({ delay: 60_000, payload: { who: 'later' } })
    await sleep(600)
    expect(ran).toEqual([
      { payload: { who: 'now' }, fireAt: expect.any(String) },
      { payload: { who: 'default' }, fireAt: runAt.toISOString() },
    ])
    expect(await handle.cancel()).toBe(1)
    const mgr = OqronManager.from(rt.getConfig())
    expect((await mgr.getJob(later.id))!.status).toBe('cancelled')
  })

  it('does not schedule a runAt twice across restarts and nodes', async () => {
    const adapters = memoryAdapter()
    const runAt = new Date(Date.now() + 200)
    let runs = 0
    const define = (rt: OqronRuntime) =>
      schedule({ name: 'once', runAt, missedFire: 'skip', runtime: rt, handler: async () => void runs++ })
    const a = await node(adapters, define)
    await node(adapters, define)
    await sleep(500)
    await a.stop()
    await node(adapters, define)
    await sleep(300)
    expect(runs).toBe(1)
  })
})

describe('jitter', () => {
  it('delays each fire by 0..jitterMs while its id keeps the nominal fire time', async () => {
    const adapters = memoryAdapter()
    let now = Date.parse('2026-07-01T00:00:00Z')
    let handle!: ReturnType<typeof cron>
    await node(
      adapters,
      (rt) => {
        handle = cron({
          name: 'spread',
          every: '1m',
          jitterMs: 30_000,
          overlap: 'run',
          runtime: rt,
          handler: async () => {},
        })
      },
      () => now,
    )
    await handle.tick()
    const delays: number[] = []
    for (let i = 1; i <= 12; i++) {
      now = Date.parse('2026-07-01T00:00:00Z') + i * 60_000
      const [fired] = (await handle.tick()).fired
      const id = `cron:spread:${fired}`
      expect(fired).toBe(new Date(now).toISOString())
      const job = await adapters.storage.getJob('default/default', id)
      expect(job).not.toBeNull()
      delays.push(job!.runAt - job!.createdAt)
    }
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(0)
    for (const d of delays) expect(d).toBeLessThan(30_000)
    expect(new Set(delays).size).toBeGreaterThan(1)
  })
})
