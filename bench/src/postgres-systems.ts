/**
 * The job systems compared by `postgres.ts`, each behind the same small interface: a producer (single and
 * bulk add) and a consumer (a handler at a given concurrency). Each runs in its own database on the one
 * PostgreSQL at 127.0.0.1. Settings are each system's best documented ones for this workload; `settings`
 * says what they are, and RESULTS.md repeats it.
 */
import { createPostgresBackend, withBackend } from 'bullmq'
import { Logger, makeWorkerUtils, run } from 'graphile-worker'
import { OqronRuntime, queue } from 'oqronkit'
import { postgresAdapter } from 'oqronkit/postgres'
import PgBoss10 from 'pg-boss'
import { PgBoss as PgBoss12 } from 'pg-boss-12'

export type Handler = (data: { n: number }) => Promise<void> | void

export interface Producer {
  add(queue: string, data: { n: number }): Promise<unknown>
  addBulk(queue: string, items: { n: number }[]): Promise<unknown>
  close(): Promise<void>
}

export interface Consumer {
  stop(): Promise<void>
}

export interface System {
  /** Short id: also the database name suffix and the child's argument. */
  id: string
  label: string
  /** What we configured, for the table. */
  settings: string
  /** Recovery after SIGKILL with these settings, as documented. */
  recoveryDefault: string
  /** Measure recovery by killing a process (false when the documented bound is minutes or hours). */
  measureRecovery: boolean
  /** Create tables etc. once in a fresh database. */
  prepare(url: string): Promise<void>
  producer(url: string): Promise<Producer>
  consumer(url: string, queue: string, concurrency: number, handler: Handler): Promise<Consumer>
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/** pg-boss: one createQueue per name, however many adds wait for it (concurrent createQueue calls deadlock). */
function oncePerName(create: (name: string) => Promise<void>): (name: string) => Promise<void> {
  const made = new Map<string, Promise<void>>()
  return (name) => {
    if (!made.has(name)) made.set(name, create(name))
    return made.get(name)!
  }
}

/** OqronKit: queue() with guaranteedWorker (heartbeat leases) on. */
export const OQRON_WORK = { heartbeatMs: 1_000, lockTtlMs: 5_000 } as const

/** Jobs claimed ahead of free slots, as Graphile Worker's localQueue.size 500 below (BENCH_OQ_PREFETCH overrides). */
const OQRON_PREFETCH = Number(process.env.BENCH_OQ_PREFETCH ?? 500)

const oqronkit: System = {
  id: 'oqronkit',
  label: 'OqronKit (@oqronkit/postgres)',
  settings: `guaranteedWorker on (heartbeat leases), heartbeatMs ${OQRON_WORK.heartbeatMs}, lockTtlMs ${OQRON_WORK.lockTtlMs} (stall scan every 1 s), pool max 10, LISTEN/NOTIFY, removeOnComplete: true (each job deleted in its completion statement, as Graphile Worker deletes completed jobs), prefetch ${OQRON_PREFETCH} (claims ahead in batches, as Graphile's localQueue)`,
  recoveryDefault: `lockTtlMs ${OQRON_WORK.lockTtlMs} + stall scan ≤ 1 s (defaults: 30,000 + 1,000)`,
  measureRecovery: true,
  async prepare(url) {
    const a = postgresAdapter({ url })
    await a.open()
    await a.close()
  },
  async producer(url) {
    const rt = new OqronRuntime()
    const queues = new Map<string, ReturnType<typeof queue<{ n: number }>>>()
    const get = (name: string) => {
      let q = queues.get(name)
      if (!q) {
        q = queue<{ n: number }>({ name, runtime: rt })
        queues.set(name, q)
      }
      return q
    }
    await rt.init({ adapters: postgresAdapter({ url }), logger: quiet, shutdown: { signals: false } })
    return {
      add: (name, data) => get(name).add(data),
      addBulk: (name, items) => get(name).addBulk(items.map((data) => ({ data }))),
      close: () => rt.stop(),
    }
  },
  async consumer(url, name, concurrency, handler) {
    const rt = new OqronRuntime()
    queue<{ n: number }>({
      name,
      runtime: rt,
      concurrency,
      guaranteedWorker: true,
      removeOnComplete: true,
      prefetch: OQRON_PREFETCH,
      ...OQRON_WORK,
      handler: (ctx) => handler(ctx.data),
    })
    await rt.init({ adapters: postgresAdapter({ url }), logger: quiet, shutdown: { signals: false } })
    return { stop: () => rt.stop() }
  },
}

const graphileLogger = new Logger(() => () => {})
const GRAPHILE = { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }

const graphile: System = {
  id: 'graphile',
  label: 'Graphile Worker 0.18',
  settings:
    'concurrency = concurrentJobs, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0 (docs: performance → batching), LISTEN/NOTIFY + pollInterval 2 s (default), maxPoolSize default',
  recoveryDefault: 'a locked job is unlocked after 4 h (not configurable); not measured',
  measureRecovery: false,
  async prepare(url) {
    const utils = await makeWorkerUtils({ connectionString: url, logger: graphileLogger })
    await utils.migrate()
    await utils.release()
  },
  async producer(url) {
    const utils = await makeWorkerUtils({ connectionString: url, logger: graphileLogger })
    return {
      add: (name, data) => utils.addJob(name, data),
      addBulk: (name, items) => utils.addJobs(items.map((payload) => ({ identifier: name, payload }))),
      close: async () => {
        await utils.release()
      },
    }
  },
  async consumer(url, name, concurrency, handler) {
    const runner = await run({
      connectionString: url,
      concurrency,
      noHandleSignals: true,
      logger: graphileLogger,
      taskList: { [name]: async (payload) => handler(payload as { n: number }) },
      // The batching options exist only in the preset form (run() warns and ignores them at the top level).
      preset: { worker: GRAPHILE },
    })
    return { stop: () => runner.stop() }
  },
}

const { Queue: BullQueue, Worker: BullWorker } = withBackend(createPostgresBackend)
const bullConnection = (url: string) => ({ connectionString: url, migrate: true })

const bullmq: System = {
  id: 'bullmq',
  label: 'BullMQ 6.7 PostgreSQL backend (createPostgresBackend)',
  settings:
    'Worker concurrency, LISTEN-based wait (backend default), lockDuration 30 s / stalledInterval 30 s (defaults), jobs kept (default)',
  recoveryDefault: 'lockDuration 30 s + stalledInterval 30 s (defaults)',
  measureRecovery: true,
  async prepare(url) {
    const q = new BullQueue('prepare', { connection: bullConnection(url) })
    await q.waitUntilReady()
    await q.close()
  },
  async producer(url) {
    const queues = new Map<string, InstanceType<typeof BullQueue>>()
    const get = (name: string) => {
      let q = queues.get(name)
      if (!q) {
        q = new BullQueue(name, { connection: bullConnection(url) })
        queues.set(name, q)
      }
      return q
    }
    return {
      add: (name, data) => get(name).add('job', data),
      addBulk: (name, items) => get(name).addBulk(items.map((data) => ({ name: 'job', data }))),
      close: async () => {
        await Promise.all([...queues.values()].map((q) => q.close()))
      },
    }
  },
  async consumer(url, name, concurrency, handler) {
    const worker = new BullWorker(name, async (job) => handler(job.data as { n: number }), {
      connection: bullConnection(url),
      concurrency,
    })
    worker.on('error', () => {})
    await worker.waitUntilReady()
    return { stop: () => worker.close() }
  },
}

const bossError = () => {}
/** pg-boss 12's typed EventEmitter does not resolve against @types/node 20 here; it is a plain EventEmitter. */
const onError = (boss: unknown) => (boss as NodeJS.EventEmitter).on('error', bossError)

const pgboss10: System = {
  id: 'pgboss10',
  label: 'pg-boss 10.4',
  settings:
    'work() with batchSize 50 (the batch handled in parallel) and pollingIntervalSeconds 0.5 (the minimum; v10 has no LISTEN/NOTIFY), defaults otherwise',
  recoveryDefault: 'expireInSeconds 900 (15 min, default); not measured',
  measureRecovery: false,
  async prepare(url) {
    const boss = new PgBoss10({ connectionString: url })
    onError(boss)
    await boss.start()
    await boss.stop({ graceful: false, wait: true })
  },
  async producer(url) {
    const boss = new PgBoss10({ connectionString: url, supervise: false, schedule: false })
    onError(boss)
    await boss.start()
    const ensure = oncePerName((name) => boss.createQueue(name))
    return {
      add: async (name, data) => {
        await ensure(name)
        return boss.send(name, data)
      },
      addBulk: async (name, items) => {
        await ensure(name)
        return boss.insert(items.map((data) => ({ name, data })))
      },
      close: () => boss.stop({ graceful: false, wait: true }),
    }
  },
  async consumer(url, name, concurrency, handler) {
    const boss = new PgBoss10({ connectionString: url })
    onError(boss)
    await boss.start()
    await boss.createQueue(name)
    await boss.work<{ n: number }>(
      name,
      { batchSize: concurrency, pollingIntervalSeconds: 0.5 },
      async (jobs) => {
        await Promise.all(jobs.map((j) => handler(j.data)))
      },
    )
    return { stop: () => boss.stop({ graceful: false, wait: true }) }
  },
}

const pgboss12: System = {
  id: 'pgboss12',
  label: 'pg-boss 12.38',
  settings:
    'useListenNotify + queue notify: true, work() with batchSize 50 (the batch handled in parallel) and burstWhenBatchFull, defaults otherwise',
  recoveryDefault:
    'expireInSeconds 900 (15 min, default; heartbeatSeconds is off by default, ≥ 10 s when set); not measured',
  measureRecovery: false,
  async prepare(url) {
    const boss = new PgBoss12({ connectionString: url })
    onError(boss)
    await boss.start()
    await boss.stop({ graceful: false })
  },
  async producer(url) {
    const boss = new PgBoss12({ connectionString: url, useListenNotify: true })
    onError(boss)
    await boss.start()
    const ensure = oncePerName((name) => boss.createQueue(name, { notify: true }))
    return {
      add: async (name, data) => {
        await ensure(name)
        return boss.send(name, data)
      },
      addBulk: async (name, items) => {
        await ensure(name)
        return boss.insert(
          name,
          items.map((data) => ({ data })),
        )
      },
      close: () => boss.stop({ graceful: false }),
    }
  },
  async consumer(url, name, concurrency, handler) {
    const boss = new PgBoss12({ connectionString: url, useListenNotify: true })
    onError(boss)
    await boss.start()
    await boss.createQueue(name, { notify: true })
    await boss.work<{ n: number }>(
      name,
      { batchSize: concurrency, burstWhenBatchFull: true },
      async (jobs) => {
        await Promise.all(jobs.map((j) => handler(j.data)))
      },
    )
    return { stop: () => boss.stop({ graceful: false }) }
  },
}

export const systems: System[] = [oqronkit, graphile, bullmq, pgboss10, pgboss12]
