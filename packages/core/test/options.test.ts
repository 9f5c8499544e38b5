import { describe, expect, it } from 'vitest'
import {
  OqronConfigError,
  OqronError,
  OqronRuntime,
  resolveWorkOptions,
  retryDefaults,
  retryDelay,
  TypedEmitter,
} from '../src/index.js'

describe('resolveWorkOptions', () => {
  it('fills the documented defaults and derives the stall interval from heartbeatMs', () => {
    const resolved = resolveWorkOptions('queue "x"', {}, { guaranteedWorker: true }, () => {})
    expect(resolved).toMatchObject({
      guaranteedWorker: true,
      heartbeatMs: 5_000,
      lockTtlMs: 30_000,
      concurrency: 1,
      maxStalledCount: 3,
      stallIntervalMs: 1_000,
      retries: retryDefaults,
      removeOnComplete: { keep: 1_000, maxAgeMs: null },
      disabledBehavior: 'hold',
    })
    expect(
      resolveWorkOptions('q', { heartbeatMs: 200, lockTtlMs: 1_000 }, {}, () => {}).stallIntervalMs,
    ).toBe(200)
  })

  it('names the field in every config error', () => {
    const bad: [object, string][] = [
      [{ concurrency: 0 }, 'q.concurrency'],
      [{ heartbeatMs: 1.5 }, 'q.heartbeatMs'],
      [{ retries: { strategy: 'linear' } }, 'q.retries.strategy'],
      [{ retries: { jitter: 2 } }, 'q.retries.jitter'],
      [{ disabledBehavior: 'drop' }, 'q.disabledBehavior'],
      [{ removeOnComplete: { count: -1 } }, 'q.removeOnComplete.count'],
      [{ guaranteedWorker: 'yes' }, 'q.guaranteedWorker'],
    ]
    for (const [options, field] of bad) {
      let caught: unknown
      try {
        resolveWorkOptions('q', options as never, {}, () => {})
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(OqronConfigError)
      expect(caught).toBeInstanceOf(OqronError)
      expect((caught as OqronConfigError).field).toBe(field)
      expect((caught as OqronConfigError).name).toBe('OqronConfigError')
    }
  })

  it('refuses a retries.jitter of NaN instead of making every retry delay NaN', () => {
    expect(() => resolveWorkOptions('q', { retries: { jitter: Number.NaN } }, {}, () => {})).toThrow(
      expect.objectContaining({ name: 'OqronConfigError', field: 'q.retries.jitter' }),
    )
  })

  it('refuses a retries option that is not an object instead of running with the default policy', () => {
    for (const retries of [5, 0, 'none', false, null, []]) {
      expect(() => resolveWorkOptions('q', { retries } as never, {}, () => {})).toThrow(
        expect.objectContaining({ name: 'OqronConfigError', field: 'q.retries' }),
      )
    }
  })

  it("refuses timer lengths past Node's limit (2147483647 ms), which Node would fire after 1 ms", () => {
    const tooLong = 2 ** 31
    const bad: [object, string][] = [
      [{ heartbeatMs: tooLong, lockTtlMs: 2 * tooLong }, 'q.heartbeatMs'],
      [{ lockTtlMs: tooLong }, 'q.lockTtlMs'],
      [{ stallIntervalMs: tooLong }, 'q.stallIntervalMs'],
    ]
    for (const [options, field] of bad) {
      expect(() => resolveWorkOptions('q', options, {}, () => {})).toThrow(
        expect.objectContaining({ name: 'OqronConfigError', field }),
      )
    }
    expect(resolveWorkOptions('q', { lockTtlMs: 2 ** 31 - 1 }, {}, () => {}).lockTtlMs).toBe(2 ** 31 - 1)
  })

  it('maps retention shorthands', () => {
    const r = resolveWorkOptions(
      'q',
      { removeOnComplete: true, removeOnFail: false, removeOnCancel: { count: 5, age: 60_000 } },
      {},
      () => {},
    )
    expect(r.removeOnComplete).toEqual({ keep: 0, maxAgeMs: null })
    expect(r.removeOnFail).toEqual({ keep: null, maxAgeMs: null })
    expect(r.removeOnCancel).toEqual({ keep: 5, maxAgeMs: 60_000 })
  })
})

describe('retryDelay', () => {
  const base = { ...retryDefaults, baseDelay: 100, maxDelay: 1_000, jitter: 0 }
  it('grows exponentially up to maxDelay, or stays fixed', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(base, a))).toEqual([100, 200, 400, 800, 1_000])
    expect([1, 2, 3].map((a) => retryDelay({ ...base, strategy: 'fixed' }, a))).toEqual([100, 100, 100])
  })
  it('takes at most the jitter share off', () => {
    const jittered = { ...base, jitter: 0.5 }
    expect(retryDelay(jittered, 1, () => 0)).toBe(100)
    expect(retryDelay(jittered, 1, () => 0.999)).toBe(50)
  })
})

describe('TypedEmitter', () => {
  it('delivers to listeners, survives a throwing one, and unsubscribes', () => {
    const e = new TypedEmitter()
    const seen: string[] = []
    e.on('cancelled', () => {
      throw new Error('listener bug')
    })
    const off = e.on('cancelled', (p) => seen.push(p.jobId))
    e.once('cancelled', (p) => seen.push(`once:${p.jobId}`))
    e.emit('cancelled', { jobId: 'a', queue: null })
    off()
    e.emit('cancelled', { jobId: 'b', queue: null })
    expect(seen).toEqual(['a', 'once:a'])
  })
})

describe('OqronRuntime', () => {
  it('binds init/stop/getConfig so they can be passed around', async () => {
    const rt = new OqronRuntime()
    const { getConfig, stop } = rt
    expect(() => getConfig()).toThrow(/init\(\) first/)
    await expect(stop()).resolves.toBeUndefined()
  })

  it('init() refuses a shutdown.signals that is not a boolean and a workerId that is not a non-empty string', async () => {
    const rt = new OqronRuntime()
    // 'false' from an environment variable is truthy: it would install the signal handlers it meant to keep off.
    for (const [options, field] of [
      [{ shutdown: { signals: 'false' } }, 'shutdown.signals'],
      [{ workerId: '' }, 'workerId'],
      [{ workerId: 42 }, 'workerId'],
    ] as const) {
      await expect(rt.init(options as never)).rejects.toSatisfy(
        (error) => error instanceof OqronConfigError && error.field === field,
      )
      expect(rt.isRunning).toBe(false)
    }
  })

  it("init() refuses a shutdown timeout or poll interval past Node's timer limit, and stays uninitialized", async () => {
    const rt = new OqronRuntime()
    // Number.MAX_SAFE_INTEGER as "wait for ever": Node would fire that timer after 1 ms and release every job.
    for (const [options, field] of [
      [{ shutdown: { timeoutMs: Number.MAX_SAFE_INTEGER } }, 'shutdown.timeoutMs'],
      [{ pollIntervalMs: 2 ** 31 }, 'pollIntervalMs'],
    ] as const) {
      await expect(rt.init(options)).rejects.toSatisfy(
        (error) => error instanceof OqronConfigError && error.field === field,
      )
      expect(rt.isRunning).toBe(false)
    }
  })
})
