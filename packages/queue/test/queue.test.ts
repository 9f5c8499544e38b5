import {
  AdapterError,
  DuplicateDefinitionError,
  JobCancelledError,
  ModuleDisabledError,
  NotInitializedError,
  OqronConfigError,
  OqronManager,
  OqronRuntime,
  UnserializableDataError,
} from '@oqronkit/core'
import { memoryAdapter } from '@oqronkit/memory'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { queue, worker } from '../src/index.js'
import { quiet, waitFor } from './helpers.js'

const runtimes: OqronRuntime[] = []
async function started(setup?: (rt: OqronRuntime) => void, adapters = memoryAdapter()) {
  const rt = new OqronRuntime()
  runtimes.push(rt)
  setup?.(rt)
  await rt.init({ adapters, logger: quiet, shutdown: { signals: false, timeoutMs: 1_000 } })
  return { rt, mgr: OqronManager.from(rt.getConfig()), adapters }
}
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((rt) => rt.stop()))
})

describe('idempotent add', () => {
  it('100 concurrent adds with one jobId make exactly one job that runs exactly once', async () => {
    let runs = 0
    let q!: ReturnType<typeof queue<{ n: number }>>
    const { mgr } = await started((rt) => {
      q = queue<{ n: number }>({
        name: 'emails',
        runtime: rt,
        concurrency: 10,
        handler: async () => void runs++,
      })
    })
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, n) => q.add({ n }, { jobId: 'welcome-user@example.com' })),
    )
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1)
    expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(99)
    expect(new Set(results.map((r) => r.id))).toEqual(new Set(['welcome-user@example.com']))
    await waitFor(async () => (await mgr.getJob('welcome-user@example.com'))?.status === 'completed')
    await new Promise((r) => setTimeout(r, 50))
    expect(runs).toBe(1)
    const page = await mgr.listJobs({ queue: 'emails' })
    expect(page.jobs).toHaveLength(1)
    // The duplicate returns the first job's data, not its own.
    expect(results.find((r) => r.outcome === 'duplicate')!.job!.data).toEqual(
      results.find((r) => r.outcome === 'created')!.job!.data,
    )
  })
})

describe('disabled behaviour', () => {
  it('hold keeps added jobs paused and runs them after enable()', async () => {
    const ran: string[] = []
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'orders',
        runtime: rt,
        disabledBehavior: 'hold',
        handler: async (ctx) => void ran.push(ctx.id),
      })
    })
    await q.disable()
    expect(await q.isDisabled()).toBe(true)
    const added = await q.add({ order: 1 }, { jobId: 'o-1' })
    expect(added.outcome).toBe('held')
    await new Promise((r) => setTimeout(r, 100))
    expect((await mgr.getJob('o-1'))!.status).toBe('paused')
    expect(ran).toEqual([])
    await mgr.enable('orders')
    await waitFor(async () => (await mgr.getJob('o-1'))?.status === 'completed')
    expect(ran).toEqual(['o-1'])
  })

  it('skip stores nothing and says so in its return value', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'cache-purge', runtime: rt, disabledBehavior: 'skip', handler: async () => {} })
    })
    await q.disable()
    const added = await q.add({ key: 'a' }, { jobId: 'c-1' })
    expect(added).toEqual({ id: 'c-1', outcome: 'skipped', job: null })
    expect(await mgr.getJob('c-1')).toBeNull()
  })

  it('reject throws a typed error and stores nothing', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'api', runtime: rt, disabledBehavior: 'reject', handler: async () => {} })
    })
    await q.disable()
    await expect(q.add({}, { jobId: 'r-1' })).rejects.toBeInstanceOf(ModuleDisabledError)
    expect(await mgr.getJob('r-1')).toBeNull()
    await q.enable()
    expect((await q.add({}, { jobId: 'r-1' })).outcome).toBe('created')
  })

  it('is kept in storage, so every node sees it', async () => {
    const adapters = memoryAdapter()
    let qa!: ReturnType<typeof queue>
    await started((rt) => {
      qa = queue({ name: 'shared', runtime: rt, disabledBehavior: 'reject' })
    }, adapters)
    const { mgr: mgrB } = await started(undefined, adapters)
    await mgrB.disable('shared')
    await expect(qa.add({})).rejects.toBeInstanceOf(ModuleDisabledError)
  })
})

describe('retries', () => {
  it('retries with growing delays, then fails for good with the error stored', async () => {
    const attempts: { attempt: number; at: number }[] = []
    let q!: ReturnType<typeof queue>
    const { rt, mgr } = await started((rt) => {
      q = queue({
        name: 'flaky',
        runtime: rt,
        retries: { max: 2, strategy: 'exponential', baseDelay: 50, maxDelay: 1_000, jitter: 0 },
        handler: async (ctx) => {
          attempts.push({ attempt: ctx.attempt, at: Date.now() })
          throw new Error(`boom ${ctx.attempt}`)
        },
      })
    })
    const retrying: number[] = []
    rt.on('retrying', (e) => retrying.push(e.delayMs))
    await q.add({}, { jobId: 'f-1' })
    const job = await waitFor(async () => {
      const j = await mgr.getJob('f-1')
      return j?.status === 'failed' ? j : null
    })
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3])
    expect(retrying).toEqual([50, 100])
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(45)
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(95)
    expect(job.error!.message).toBe('boom 3')
    expect(job.error!.stack).toContain('boom 3')
    expect(job.attempts).toBe(3)
    expect(job.timeline.filter((e) => e.event === 'retrying')).toHaveLength(2)
  })

  it('ctx.discard() skips the remaining retries; add({ attempts }) overrides the count', async () => {
    let runs = 0
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'discard',
        runtime: rt,
        retries: { max: 5, baseDelay: 10, jitter: 0 },
        handler: async (ctx) => {
          runs++
          if ((ctx.data as { discard: boolean }).discard) ctx.discard()
          throw new Error('no')
        },
      })
    })
    await q.add({ discard: true }, { jobId: 'd-1' })
    await q.add({ discard: false }, { jobId: 'd-2', attempts: 2 })
    await waitFor(async () => (await mgr.getJob('d-1'))?.status === 'failed')
    await waitFor(async () => (await mgr.getJob('d-2'))?.status === 'failed')
    expect((await mgr.getJob('d-1'))!.attempts).toBe(1)
    expect((await mgr.getJob('d-2'))!.attempts).toBe(2)
    expect(runs).toBe(3)
  })

  for (const [what, make] of [
    [
      'a cyclic object',
      () => {
        const thrown: Record<string, unknown> = { reason: 'upstream said no' }
        thrown.self = thrown
        return thrown
      },
    ],
    ['a BigInt', () => 10n],
  ] as const) {
    it(`a thrown value JSON cannot encode (${what}) still fails the job at once`, async () => {
      // Before: describing the error threw inside every settle attempt, so the job stayed claimed (and its
      // slot taken) until its lease ran out, then came back as a stall instead of a failed attempt.
      let q!: ReturnType<typeof queue>
      const { rt, mgr } = await started((rt) => {
        q = queue({
          name: 'odd-throw',
          runtime: rt,
          retries: { max: 0 },
          handler: async () => {
            throw make()
          },
        })
      })
      const errors: string[] = []
      rt.on('error', (e) => errors.push(e.where))
      await q.add({}, { jobId: 'odd' })
      const job = await waitFor(async () => {
        const j = await mgr.getJob('odd')
        return j?.status === 'failed' ? j : null
      }, 2_000)
      expect(errors).toEqual([])
      expect(job.error!.message).toEqual(expect.any(String))
      expect(job.stalledCount).toBe(0)
    })
  }

  it('an error is stored with each NUL character and lone surrogate as U+FFFD, on every backend alike', async () => {
    // PostgreSQL's jsonb cannot hold them; the engine sends what every backend stores as given, so the record
    // read back after a retried fail shows the very error the run sent.
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'odd-text',
        runtime: rt,
        retries: { max: 0 },
        handler: async () => {
          const error = new Error('bad \u0000 byte and \ud800 half')
          error.name = 'Odd\u0000Error'
          throw error
        },
      })
    })
    await q.add({}, { jobId: 'odd-text' })
    const job = await waitFor(async () => {
      const j = await mgr.getJob('odd-text')
      return j?.status === 'failed' ? j : null
    }, 2_000)
    expect(job.error).toMatchObject({ name: 'Odd\ufffdError', message: 'bad \ufffd byte and \ufffd half' })
    expect(job.error!.stack).not.toMatch(/\0/)
  })
})

describe('retention', () => {
  it('removes completed jobs past removeOnComplete and cancelled tombstones past removeOnCancel', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'ret',
        runtime: rt,
        concurrency: 5,
        removeOnComplete: 3,
        removeOnCancel: 1,
        handler: async () => 1,
      })
    })
    for (let i = 0; i < 10; i++) await q.add({ i }, { jobId: `j-${i}` })
    await waitFor(async () => (await mgr.countJobs('ret')).completed === 3, 5_000, 'retention to prune to 3')
    const kept = (await mgr.listJobs({ queue: 'ret', status: 'completed' })).jobs.map((j) => j.id)
    expect(kept).toEqual(['j-9', 'j-8', 'j-7'])
    await q.pause()
    await q.add({}, { jobId: 'c-1' })
    await q.add({}, { jobId: 'c-2' })
    await mgr.cancelJob('c-1')
    await mgr.cancelJob('c-2')
    await q.resume()
    await q.add({}, { jobId: 'tick' }) // a settle triggers the next sweep
    await waitFor(async () => (await mgr.getJob('c-1')) === null, 5_000, 'the oldest tombstone to go')
    expect((await mgr.getJob('c-2'))!.status).toBe('cancelled')
  })

  it('removes by age', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'aged', runtime: rt, removeOnComplete: { age: 1_500 }, handler: async () => 1 })
    })
    await q.add({}, { jobId: 'old' })
    await waitFor(async () => (await mgr.getJob('old'))?.status === 'completed')
    await new Promise((r) => setTimeout(r, 1_600))
    await q.add({}, { jobId: 'new' })
    await waitFor(async () => (await mgr.getJob('old')) === null, 5_000, 'the aged job to go')
    expect((await mgr.getJob('new'))?.status).toBe('completed')
  })
})

/** A memory adapter whose completions are applied but whose first `lost` replies never arrive (a dropped connection). */
function losingReplies(lost: number) {
  const adapters = memoryAdapter()
  const { broker } = adapters
  let left = lost
  const complete = broker.complete.bind(broker)
  const completeAndClaim = broker.completeAndClaim!.bind(broker)
  broker.complete = async (...args) => {
    const done = await complete(...args)
    if (left-- > 0) throw new AdapterError('connection lost before the reply')
    return done
  }
  broker.completeAndClaim = async (...args) => {
    const outcome = await completeAndClaim(...args)
    if (left-- > 0) throw new AdapterError('connection lost before the reply')
    return outcome
  }
  const fail = broker.fail.bind(broker)
  broker.fail = async (...args) => {
    const applied = await fail(...args)
    if (left-- > 0) throw new AdapterError('connection lost before the reply')
    return applied
  }
  return adapters
}

describe('a completion whose reply was lost', () => {
  for (const removeOnComplete of [false, true]) {
    it(`is reported completed, not as a lost lease, when the retry finds it applied (removeOnComplete: ${removeOnComplete})`, async () => {
      let q!: ReturnType<typeof queue>
      const { rt, mgr } = await started((rt) => {
        q = queue({
          name: `lost-reply-${removeOnComplete}`,
          runtime: rt,
          removeOnComplete,
          handler: async () => 'done',
        })
      }, losingReplies(1))
      const completed: string[] = []
      const lost: string[] = []
      rt.on('completed', (e) => completed.push(e.job.id))
      rt.on('lease-lost', (e) => lost.push(e.jobId))
      rt.on('error', () => {})
      await q.add({}, { jobId: 'j1' })
      await waitFor(async () => completed.length === 1, 5_000, 'the completed event')
      expect(completed).toEqual(['j1'])
      expect(lost).toEqual([])
      expect(rt.engineContext().staleWrites).toBe(0)
      const stored = await mgr.getJob('j1')
      if (removeOnComplete) expect(stored).toBeNull()
      else expect(stored?.status).toBe('completed')
    })
  }
})

describe('a failure whose reply was lost', () => {
  it('is reported as retrying / failed, not as a lost lease, when the retry finds it applied', async () => {
    let q!: ReturnType<typeof queue>
    // Both attempts' failure replies are lost: the retrying one, then the final one.
    const { rt, mgr } = await started((rt) => {
      q = queue({
        name: 'lost-fail-reply',
        runtime: rt,
        retries: { max: 1, strategy: 'fixed', baseDelay: 0, jitter: 0 },
        handler: async () => {
          throw new Error('boom')
        },
      })
    }, losingReplies(2))
    const events: string[] = []
    const lost: string[] = []
    rt.on('retrying', (e) => events.push(`retrying ${e.job.attempts}`))
    rt.on('failed', (e) => events.push(`failed ${e.job.attempts}`))
    rt.on('lease-lost', (e) => lost.push(e.jobId))
    rt.on('error', () => {})
    await q.add({}, { jobId: 'f1' })
    await waitFor(async () => events.length === 2, 5_000, 'the retrying and failed events')
    expect(events).toEqual(['retrying 1', 'failed 2'])
    expect(lost).toEqual([])
    expect(rt.engineContext().staleWrites).toBe(0)
    expect(await mgr.getJob('f1')).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { message: 'boom' },
    })
  })
})

describe('queue API', () => {
  it('delays, priorities, pause/resume, counts, progress and logs', async () => {
    const order: string[] = []
    let q!: ReturnType<typeof queue>
    const { mgr, rt } = await started((rt) => {
      q = queue({
        name: 'api',
        runtime: rt,
        handler: async (ctx) => {
          order.push(ctx.id)
          await ctx.progress(40, 'halfway-ish')
          await ctx.log('info', 'did a thing', { n: 1 })
          return ctx.id
        },
      })
    })
    const progress: number[] = []
    rt.on('progress', (e) => progress.push(e.progress))
    await q.pause()
    expect(await q.isPaused()).toBe(true)
    await q.add({}, { jobId: 'low' })
    await q.add({}, { jobId: 'high', priority: 10 })
    await q.add({}, { jobId: 'later', delay: 300 })
    const counts = await q.count()
    expect(counts.waiting).toBe(2)
    expect(counts.delayed).toBe(1)
    await new Promise((r) => setTimeout(r, 50))
    expect(order).toEqual([])
    const t0 = Date.now()
    await q.resume()
    await waitFor(async () => (await mgr.getJob('later'))?.status === 'completed', 3_000)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200)
    expect(order).toEqual(['high', 'low', 'later'])
    const job = (await q.getJob('high'))!
    expect(job.progress).toBe(40)
    expect(job.progressLabel).toBe('halfway-ish')
    expect(job.timeline.map((e) => e.event)).toEqual(['added', 'active', 'progress', 'log', 'completed'])
    expect(job.timeline[3]!.detail).toBe('[info] did a thing {"n":1}')
    expect(progress).toEqual([40, 40, 40])
    expect((await q.getJobs({ status: 'completed' })).jobs.map((j) => j.id)).toEqual(['later', 'high', 'low'])
  })

  it('ctx members work destructured, and a signal first read after the abort is already aborted with its reason', async () => {
    let q!: ReturnType<typeof queue>
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const seen: { aborted?: boolean; reason?: unknown } = {}
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'ctx-members',
        runtime: rt,
        handler: async (ctx) => {
          const { progress, log, id } = ctx
          await progress(10)
          await log('info', `job ${id}`)
          if (ctx.data && (ctx.data as { cancel?: boolean }).cancel) {
            await gate
            // Read only now, after cancelJob aborted the run: it must already say so.
            const { signal } = ctx
            seen.aborted = signal.aborted
            seen.reason = signal.reason
          }
          return 'ok'
        },
      })
    })
    await q.add({}, { jobId: 'plain' })
    await waitFor(async () => (await mgr.getJob('plain'))?.status === 'completed')
    const plain = (await mgr.getJob('plain'))!
    expect(plain.progress).toBe(10)
    expect(plain.timeline.find((e) => e.event === 'log')?.detail).toBe('[info] job plain')
    await q.add({ cancel: true }, { jobId: 'cancelled' })
    await waitFor(async () => (await mgr.getJob('cancelled'))?.progress === 10)
    await mgr.cancelJob('cancelled')
    release()
    await waitFor(async () => seen.aborted !== undefined)
    expect(seen.aborted).toBe(true)
    expect(seen.reason).toBeInstanceOf(JobCancelledError)
  })

  it("a queue's pause, disable and count act on that queue when another kind of module shares its name", async () => {
    let q!: ReturnType<typeof queue>
    const { rt } = await started((rt) => {
      // A module of another kind named like the queue, defined first (a cron "cleanup" runs on queue "cron:cleanup").
      rt.define({ kind: 'cron', name: 'cleanup', queue: 'cron:cleanup' })
      q = queue({ name: 'cleanup', runtime: rt })
    })
    const { adapters, ns } = rt.getConfig()
    await q.pause()
    expect(await adapters.broker.isPaused(ns, 'cleanup')).toBe(true)
    expect(await adapters.broker.isPaused(ns, 'cron:cleanup')).toBe(false)
    await q.disable()
    expect(await adapters.broker.isDisabled(ns, 'cleanup')).toBe(true)
    expect(await adapters.broker.isDisabled(ns, 'cron:cleanup')).toBe(false)
    await q.enable()
    await q.add({}, { jobId: 'c-1' })
    expect((await q.count()).waiting).toBe(1)
    // The manager reaches the other module by its engine queue.
    const mgr = OqronManager.from(rt.getConfig())
    await mgr.pauseQueue('cron:cleanup')
    expect(await adapters.broker.isPaused(ns, 'cron:cleanup')).toBe(true)
  })

  it('pages through listJobs with a cursor', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'pages', runtime: rt })
    })
    for (let i = 0; i < 7; i++) await q.add({ i }, { jobId: `p${i}` })
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = await mgr.listJobs({ queue: 'pages', limit: 3, cursor })
      seen.push(...page.jobs.map((j) => j.id))
      cursor = page.cursor
    } while (cursor)
    expect(seen).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0'])
  })

  it('retryJob runs a failed job again; it refuses a job that is not finished', async () => {
    let fail = true
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'again',
        runtime: rt,
        retries: { max: 0 },
        handler: async () => {
          if (fail) throw new Error('first time')
          return 'ok'
        },
      })
    })
    await q.add({}, { jobId: 'a-1' })
    await waitFor(async () => (await mgr.getJob('a-1'))?.status === 'failed')
    fail = false
    await mgr.retryJob('a-1')
    const done = await waitFor(async () => {
      const j = await mgr.getJob('a-1')
      return j?.status === 'completed' ? j : null
    })
    expect(done.result).toBe('ok')
    expect(done.timeline.map((e) => e.event)).toContain('retried')
    await expect(mgr.retryJob('a-1')).rejects.toThrow(/Cannot retry job "a-1" while it is completed/)
    await expect(mgr.retryJob('nope')).rejects.toThrow(/No job with id "nope"/)
  })

  it('emits typed lifecycle events', async () => {
    const seen: string[] = []
    let q!: ReturnType<typeof queue>
    const { rt } = await started((rt) => {
      q = queue({
        name: 'events',
        runtime: rt,
        retries: { max: 1, baseDelay: 1, jitter: 0 },
        handler: async (ctx) => {
          if (ctx.attempt === 1) throw new Error('once')
          return 'done'
        },
      })
    })
    for (const e of ['added', 'active', 'completed', 'failed', 'retrying'] as const)
      rt.on(e, () => seen.push(e))
    await q.add({})
    await waitFor(() => seen.includes('completed'))
    expect(seen).toEqual(['added', 'active', 'retrying', 'active', 'completed'])
  })
})

describe('bad input gets a typed error and changes nothing', () => {
  it('rejects lockTtlMs <= heartbeatMs and warns once under 3 x heartbeatMs', () => {
    const rt = new OqronRuntime()
    expect(() => queue({ name: 'x', runtime: rt, heartbeatMs: 5_000, lockTtlMs: 5_000 })).toThrow(
      OqronConfigError,
    )
    expect(() => queue({ name: 'x', runtime: rt, heartbeatMs: 5_000, lockTtlMs: 5_000 })).toThrow(
      /must be greater than heartbeatMs/,
    )
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    queue({ name: 'tight', runtime: rt, heartbeatMs: 5_000, lockTtlMs: 10_000 })
    worker({ topic: 'tight', runtime: rt, heartbeatMs: 5_000, lockTtlMs: 10_000, handler: async () => {} })
    expect(warn).toHaveBeenCalledTimes(2)
    expect(String(warn.mock.calls[0]![0])).toMatch(/under 3 × heartbeatMs/)
    expect(() => queue({ name: 'tight2', runtime: rt, heartbeatMs: 5_000, lockTtlMs: 10_000 })).not.toThrow()
    expect(warn).toHaveBeenCalledTimes(3)
    warn.mockRestore()
    // The failed definition registered nothing: the name is still free.
    expect(() => queue({ name: 'x', runtime: rt })).not.toThrow()
  })

  it('throws on duplicate definition names', () => {
    const rt = new OqronRuntime()
    queue({ name: 'dup', runtime: rt, handler: async () => {} })
    expect(() => queue({ name: 'dup', runtime: rt })).toThrow(DuplicateDefinitionError)
    expect(() => worker({ topic: 'dup', runtime: rt, handler: async () => {} })).toThrow(
      DuplicateDefinitionError,
    )
    worker({ topic: 'only-worker', runtime: rt, handler: async () => {} })
    expect(() => worker({ topic: 'only-worker', runtime: rt, handler: async () => {} })).toThrow(
      DuplicateDefinitionError,
    )
    expect(() => worker({ topic: 'w', runtime: rt } as never)).toThrow(/handler must be a function/)
  })

  it('throws on unserializable data at add() and stores nothing', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'ser', runtime: rt })
    })
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const bad = [cyclic, { n: 10n }, { fn: () => 1 }, { m: new Map() }, { x: Number.NaN }, [1, [Symbol('s')]]]
    for (const data of bad)
      await expect(q.add(data, { jobId: 'bad' })).rejects.toBeInstanceOf(UnserializableDataError)
    await expect(q.add({ n: 1n })).rejects.toThrow(/data\.n is a BigInt/)
    await expect(
      q.addBulk([{ data: { ok: 1 }, options: { jobId: 'good' } }, { data: { f: () => 1 } }]),
    ).rejects.toThrow(/\[1\]\.data\.f is a function/)
    expect(await mgr.getJob('bad')).toBeNull()
    expect(await mgr.getJob('good')).toBeNull()
    expect((await mgr.listJobs({ queue: 'ser' })).jobs).toEqual([])
    await expect(q.add({}, { jobId: '' })).rejects.toBeInstanceOf(OqronConfigError)
    await expect(q.add({}, { delay: -1 })).rejects.toThrow(/delay/)
  })

  it('addBulk() refuses an item that is not an object with a typed error and stores nothing', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'bulk-items', runtime: rt })
    })
    for (const item of [null, undefined, 'x', 7]) {
      await expect(q.addBulk([{ data: {}, options: { jobId: 'first' } }, item as never])).rejects.toSatisfy(
        (error) => error instanceof OqronConfigError && /\[1\]/.test((error as Error).message),
      )
    }
    expect(await mgr.getJob('first')).toBeNull()
  })

  it('add() before init() throws NotInitializedError; definitions before and after init both run', async () => {
    const rt = new OqronRuntime()
    runtimes.push(rt)
    const ran: string[] = []
    const before = queue({ name: 'before', runtime: rt, handler: async () => void ran.push('before') })
    await expect(before.add({})).rejects.toBeInstanceOf(NotInitializedError)
    await rt.init({ adapters: memoryAdapter(), logger: quiet, shutdown: { signals: false } })
    const after = queue({ name: 'after', runtime: rt, handler: async () => void ran.push('after') })
    await before.add({})
    await after.add({})
    await waitFor(() => ran.length === 2)
    expect(ran.sort()).toEqual(['after', 'before'])
  })

  it('init() checks its options before touching anything', async () => {
    const rt = new OqronRuntime()
    await expect(rt.init({ adapters: memoryAdapter(), project: 'bad name!' })).rejects.toBeInstanceOf(
      OqronConfigError,
    )
    await expect(rt.init({ adapters: memoryAdapter(), shutdown: { timeoutMs: -1 } })).rejects.toThrow(
      /timeoutMs/,
    )
    await expect(rt.init({})).rejects.toThrow(/No adapters/)
    expect(rt.isRunning).toBe(false)
  })

  it('keeps project/environment namespaces apart on one adapter', async () => {
    const adapters = memoryAdapter()
    const a = new OqronRuntime()
    const b = new OqronRuntime()
    runtimes.push(a, b)
    const qa = queue({ name: 'same', runtime: a })
    await a.init({
      adapters,
      project: 'shop',
      environment: 'production',
      logger: quiet,
      shutdown: { signals: false },
    })
    await b.init({
      adapters,
      project: 'shop',
      environment: 'staging',
      logger: quiet,
      shutdown: { signals: false },
    })
    await qa.add({}, { jobId: 'ns-1' })
    expect(await OqronManager.from(a.getConfig()).getJob('ns-1')).not.toBeNull()
    expect(await OqronManager.from(b.getConfig()).getJob('ns-1')).toBeNull()
  })
})

describe('retry hints', () => {
  it("an error's retryAfterMs sets the delay of its retry", async () => {
    const at: number[] = []
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({
        name: 'hinted',
        runtime: rt,
        retries: { max: 1, baseDelay: 10_000, jitter: 0 },
        handler: async () => {
          at.push(Date.now())
          if (at.length === 1) throw Object.assign(new Error('rate limited'), { retryAfterMs: 300 })
        },
      })
    })
    await q.add({}, { jobId: 'h-1' })
    await waitFor(async () => (await mgr.getJob('h-1'))?.status === 'completed', 5_000)
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(280)
    expect(at[1]! - at[0]!).toBeLessThan(5_000)
  })
})

describe('transactional enqueue on an adapter without transactions', () => {
  it('add(data, { tx }) on memory throws OqronConfigError and stores nothing', async () => {
    let q!: ReturnType<typeof queue>
    const { mgr } = await started((rt) => {
      q = queue({ name: 'txq', runtime: rt })
    })
    await expect(q.add({}, { jobId: 't-1', tx: {} })).rejects.toThrow(
      /cannot enqueue inside a database transaction/,
    )
    await expect(q.addBulk([{ data: {}, options: { tx: {} } }, { data: {} }])).rejects.toThrow(/same tx/)
    expect(await mgr.getJob('t-1')).toBeNull()
  })
})
