import type { NewJob, OqronAdapters } from '@oqronkit/core'
import {
  type AdapterContractOptions,
  type AdapterFixture,
  type CheckContext,
  type ContractCheck,
  type CreateContext,
  capabilityDefaults,
  type ResolvedCapabilities,
} from './types.js'
import { randomId, testClock } from './util.js'

/**
 * A job for `queue` as an adapter's `add` receives it from core with no options given (a random id, data
 * `{ n: 1 }`, 3 attempts, guaranteed, held while the queue is disabled), `overrides` on top. The contract
 * checks' `ctx.job()`; adapter test suites may use it for their own jobs.
 */
export function newJob(queue: string, overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomId('j'),
    queue,
    data: { n: 1 },
    delayMs: 0,
    priority: 0,
    lifo: false,
    maxAttempts: 3,
    guaranteed: true,
    disabledBehavior: 'hold',
    ...overrides,
  }
}

export function resolveCapabilities(options: AdapterContractOptions): ResolvedCapabilities {
  return { ...capabilityDefaults, ...stripUndefined(options.capabilities ?? {}) }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function isFixture(value: OqronAdapters | AdapterFixture): value is AdapterFixture {
  return 'adapters' in value && typeof (value as AdapterFixture).adapters === 'object'
}

/** A fresh namespace `<project>/<environment>` of letters and digits. */
export function freshNs(): string {
  return `${randomId('t')}/${randomId('e')}`
}

/**
 * Build a fresh adapter set, run one check against it, tear everything down (deferred work, peers, the set,
 * `cleanup`) and rethrow the check's failure. Usable outside vitest: this is how the broken-adapter tests prove
 * a check fails.
 */
export async function runContractCheck(options: AdapterContractOptions, check: ContractCheck): Promise<void> {
  const capabilities = resolveCapabilities(options)
  const reason = check.skip?.(capabilities, options) ?? null
  if (reason) throw new Error(`check ${check.id} cannot run: ${reason}`)
  const createCtx: CreateContext = { clock: testClock(), id: randomId() }
  const created = await options.create(createCtx)
  const fixture: AdapterFixture = isFixture(created) ? created : { adapters: created }
  const { adapters } = fixture
  const deferred: (() => unknown)[] = []
  const peers = new Set<OqronAdapters>()
  let peerPromise: Promise<OqronAdapters> | null = null
  let failure: unknown = null
  try {
    await adapters.open?.()
    const ctx: CheckContext = {
      adapters,
      ns: freshNs(),
      queue: randomId('q'),
      capabilities,
      clock: capabilities.backendClock === 'controllable' ? createCtx.clock : null,
      options,
      hasPeer: fixture.connectPeer !== undefined,
      otherNs: freshNs,
      peer() {
        if (!fixture.connectPeer) return Promise.resolve(adapters)
        peerPromise ??= (async () => {
          const peer = await fixture.connectPeer!()
          if (peer !== adapters) {
            await peer.open?.()
            peers.add(peer)
          }
          return peer
        })()
        return peerPromise
      },
      job: (overrides: Partial<NewJob> = {}) => newJob(ctx.queue, overrides),
      defer(fn) {
        deferred.push(fn)
      },
    }
    await check.run(ctx)
  } catch (error) {
    failure = error
  }
  const teardownErrors: unknown[] = []
  for (const fn of deferred.reverse()) {
    try {
      await fn()
    } catch (error) {
      teardownErrors.push(error)
    }
  }
  for (const peer of peers) {
    try {
      await peer.close()
    } catch (error) {
      teardownErrors.push(error)
    }
  }
  try {
    await adapters.close()
  } catch (error) {
    teardownErrors.push(error)
  }
  try {
    await options.cleanup?.(adapters, createCtx)
  } catch (error) {
    teardownErrors.push(error)
  }
  if (failure) throw failure
  if (teardownErrors.length > 0) {
    throw new AggregateError(teardownErrors, `check ${check.id} passed, but tearing its adapters down failed`)
  }
}
