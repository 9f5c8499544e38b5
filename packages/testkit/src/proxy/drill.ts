import { type OqronAdapters, OqronRuntime, resolveWorkOptions } from '@oqronkit/core'
import type { LossyProxy } from './index.js'

export interface FreezeDrillOptions {
  /** The proxy the adapters connect through. */
  proxy: LossyProxy
  /** The adapters under test, connected through `proxy`; the drill's runtime opens and closes them. */
  adapters: OqronAdapters
  /** Jobs to run. @default 150 */
  jobs?: number
  /** Completions before every connection is frozen. @default 30 */
  freezeAfter?: number
  /** Handler slots of the worker. @default 5 */
  concurrency?: number
  /**
   * Lease of the worker's jobs (heartbeat every 250 ms). Keep your adapter's reply deadline well below it,
   * or renewals stuck on the frozen connections outlast the leases and the runs are stopped as lost.
   * @default 5000
   */
  lockTtlMs?: number
  /** How long to wait for the worker to resume, and then to finish. @default 20000 */
  timeoutMs?: number
}

export interface FreezeDrillReport {
  /** Jobs enqueued before the freeze. */
  jobs: number
  /** Of those, completed by the end. */
  completed: number
  /** Freeze → the first completion after it; null if none came within `timeoutMs`. */
  resumedAfterMs: number | null
  /** Jobs whose handler ran more than once. */
  ranTwice: number
  /** Reasons of the runtime's `lease-lost` events. */
  leaseLost: string[]
  /**
   * One more job added once the worker is idle again, add → completion (the poll is 20 s, so anything
   * quicker came through a live wake-up); null if it did not complete within 5 s.
   */
  idlePickupMs: number | null
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The half-open drill: one runtime works through `jobs` jobs at `concurrency` on `adapters`; after
 * `freezeAfter` completions `proxy.freeze()` makes every open connection silent in both directions, as when
 * the server's host or the network path dies without a reset. An adapter with a reply deadline closes the
 * dead connections and goes on on new ones; without one it waits for TCP keepalive (minutes). Reports what
 * happened and asserts nothing: check `completed === jobs`, `resumedAfterMs` against your deadline,
 * `ranTwice === 0`, `leaseLost` empty and `idlePickupMs` well under a second.
 */
export async function freezeDrill(options: FreezeDrillOptions): Promise<FreezeDrillReport> {
  const { proxy, adapters } = options
  const total = options.jobs ?? 150
  const freezeAfter = options.freezeAfter ?? 30
  const timeoutMs = options.timeoutMs ?? 20_000
  const queue = 'freeze-drill'
  const runtime = new OqronRuntime()
  const runs = new Map<number, number>()
  const done = new Set<number>()
  const leaseLost: string[] = []
  runtime.on('completed', (e) => done.add((e.job.data as { n: number }).n))
  runtime.on('lease-lost', (e) => leaseLost.push(e.reason))
  try {
    await runtime.init({
      adapters,
      project: `drill-${Math.random().toString(36).slice(2, 10)}`,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      // Wake-ups must come from a live subscription, not from the poll.
      pollIntervalMs: 20_000,
      shutdown: { signals: false },
    })
    runtime.addConsumer({
      kind: 'testkit',
      name: queue,
      queue,
      handler: async (ctx) => {
        const { n } = ctx.data as { n: number }
        runs.set(n, (runs.get(n) ?? 0) + 1)
        await sleep(20)
      },
      options: resolveWorkOptions(
        'freeze drill',
        { concurrency: options.concurrency ?? 5, heartbeatMs: 250, lockTtlMs: options.lockTtlMs ?? 5_000 },
        {},
        () => {},
      ),
    })
    const add = (n: number) =>
      runtime.enqueue(queue, { n }, {}, { maxAttempts: 3, guaranteed: true, disabledBehavior: 'hold' })
    for (let n = 0; n < total; n++) await add(n)
    while (done.size < freezeAfter) await sleep(5)
    proxy.freeze()
    const frozenAt = Date.now()
    const before = done.size
    while (done.size === before && Date.now() - frozenAt < timeoutMs) await sleep(5)
    const resumedAfterMs = done.size > before ? Date.now() - frozenAt : null
    while (done.size < total && Date.now() - frozenAt < timeoutMs) await sleep(10)
    const completed = done.size
    let idlePickupMs: number | null = null
    if (completed === total) {
      await sleep(200) // parked on its wake-up again
      const addedAt = Date.now()
      await add(total)
      while (!done.has(total) && Date.now() - addedAt < 5_000) await sleep(5)
      if (done.has(total)) idlePickupMs = Date.now() - addedAt
    }
    const ranTwice = [...runs.values()].filter((count) => count > 1).length
    return { jobs: total, completed, resumedAfterMs, ranTwice, leaseLost, idlePickupMs }
  } finally {
    await runtime.stop()
  }
}
