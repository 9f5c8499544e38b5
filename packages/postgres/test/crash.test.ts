// Crash tests with real processes: worker processes (testkit's CrashHarness: child_process.fork) on one
// PostgreSQL schema are SIGKILLed, SIGSTOPped, killed and restarted under load, and the server itself is
// restarted under load. What the children report (handler starts, accepted completions, refused writes)
// is checked against the records in the database.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { JobRecord } from '@oqronkit/core'
import {
  type ChildWorker,
  type ChildWorkOptions,
  CrashHarness,
  type Interruption,
  type WorkerSpec,
} from '@oqronkit/testkit/crash'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { migrate, type PostgresAdapters, postgresAdapter } from '../src/index.js'
import { DATABASE_URL, dropSchema, IS_CI, newJob, randomSchema, runSuite, sleep } from './helpers.js'

const run = promisify(execFile)
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))
const fixture = fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url))
const execArgv = ['--conditions=source', '--import', tsx, '--import', loader]

let seq = 0
const nextEnv = () => `e${process.pid}-${++seq}`

/** Timeline event names of a record, in order. */
const events = (job: JobRecord | null) => (job?.timeline ?? []).map((e) => e.event)

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * Work options that keep every completed record (the default retention keeps the newest 1,000), so the
 * database can say that no job was lost.
 */
const keepAll = (work: ChildWorkOptions): ChildWorkOptions => ({ ...work, removeOnComplete: false })

/** Accepted completions per job id, as the children reported them. */
function completionCounts(harness: CrashHarness): Map<string, number> {
  const counts = new Map<string, number>()
  for (const e of harness.events)
    if (e.type === 'event' && e.name === 'completed' && e.jobId)
      counts.set(e.jobId, (counts.get(e.jobId) ?? 0) + 1)
  return counts
}

/** Handler starts beyond the first, over all jobs. */
function duplicateStarts(harness: CrashHarness): number {
  let n = 0
  for (const count of harness.executionCounts().values()) n += count - 1
  return n
}

describe.runIf(runSuite)('crash tests with real worker processes', () => {
  const schema = randomSchema('oqc')
  let parent: PostgresAdapters
  let harness: CrashHarness

  beforeAll(async () => {
    await migrate({ url: DATABASE_URL, schema })
    parent = postgresAdapter({ url: DATABASE_URL }, { schema, max: 4 })
    await parent.open()
  })
  afterEach(async () => {
    await harness?.close()
  })
  afterAll(async () => {
    await parent?.close()
    await dropSchema(schema)
  })

  const spec = (name: string, environment: string, patch: Partial<WorkerSpec> = {}): WorkerSpec => ({
    adapter: { module: fixture, export: 'postgres', options: { url: DATABASE_URL, schema }, execArgv },
    queue: 'crash',
    project: 'pg',
    environment,
    name,
    work: { heartbeatMs: 200, lockTtlMs: 1_500, stallIntervalMs: 250, concurrency: 1 },
    ...patch,
  })

  test('SIGKILL of the worker running a job: another starts it within lockTtlMs + 2 s and completes it; the record shows stalled, then completed', async () => {
    harness = new CrashHarness()
    const env = nextEnv()
    const ns = `pg/${env}`
    const lockTtlMs = 1_500
    // A holds the job until it is killed, however long B takes to start; B's re-run is short.
    const a = await harness.start(spec('A', env, { durationMs: 60_000 }))
    await parent.broker.add(ns, newJob('crash', { id: 'kill-me' }))
    await harness.waitForStart('kill-me', { worker: 'A' })
    const b = await harness.start(spec('B', env, { durationMs: 100 }))
    await sleep(300) // A's lease is live and renewed while B is idle: B must not take the job yet
    expect(harness.executions('kill-me')).toBe(1)

    const kill = a.kill()
    const rerun = await harness.waitForStart('kill-me', { after: kill, timeoutMs: 20_000 })
    expect(rerun.worker).toBe('B')
    const recoveryMs = harness.recoveryMs('kill-me', kill)!
    console.info(`SIGKILL: recovered after ${recoveryMs} ms (lockTtlMs ${lockTtlMs})`)
    expect(recoveryMs).toBeLessThanOrEqual(lockTtlMs + 2_000)
    await harness.waitFor((e) => e.type === 'event' && e.name === 'completed' && e.jobId === 'kill-me', {
      timeoutMs: 10_000,
    })

    const job = await parent.storage.getJob(ns, 'kill-me')
    expect(job).toMatchObject({ status: 'completed', stalledCount: 1, attempts: 2 })
    expect((job!.result as { by: string }).by).toBe(b.workerIds.main)
    const timeline = events(job)
    expect(timeline.filter((e) => e === 'stalled')).toHaveLength(1)
    expect(timeline.indexOf('stalled')).toBeLessThan(timeline.lastIndexOf('completed'))
    expect(timeline.slice(-1)).toEqual(['completed'])
    expect(harness.completions('kill-me')).toBe(1)
  })

  test('SIGKILL of a parked worker: a job added after its death goes to a live worker at once, not into the dead park', async () => {
    harness = new CrashHarness()
    const env = nextEnv()
    const ns = `pg/${env}`
    const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
    // Long leases: a job pushed into A's park would wait lockTtlMs (10 s) for the stall scan.
    const work = { heartbeatMs: 1_000, lockTtlMs: 10_000, stallIntervalMs: 250, concurrency: 1 }
    const parkOf = async (workerId: string) =>
      (await admin.unsafe(`select holder from "${schema}".parks where ns = $1 and worker_id = $2`, [
        ns,
        workerId,
      ] as never)) as unknown as { holder: string }[]
    try {
      const a = await harness.start(spec('A', env, { work, durationMs: 50 }))
      await waitUntil(async () => (await parkOf(a.workerIds.main!)).length > 0, 10_000, 'A to park')
      const b = await harness.start(spec('B', env, { work, durationMs: 50 }))
      await waitUntil(async () => (await parkOf(b.workerIds.main!)).length > 0, 10_000, 'B to park')
      // A's park expires first, so an add that took any park would take A's.
      const [{ holder }] = (await parkOf(a.workerIds.main!)) as [{ holder: string }]
      a.kill()
      // The server notices the dead process: its LISTEN connection, which held the park's holder lock, is gone.
      await waitUntil(
        async () =>
          (
            await admin.unsafe(
              `select 1 from pg_locks where locktype = 'advisory' and objsubid = 1
                 and ((classid::bigint << 32) | objid::bigint) = $1::bigint`,
              [holder] as never,
            )
          ).length === 0,
        5_000,
        "A's holder lock to be released",
      )
      expect(await parkOf(a.workerIds.main!)).toHaveLength(1)
      const t0 = Date.now()
      await parent.broker.add(ns, newJob('crash', { id: 'after-kill' }))
      const started = await harness.waitForStart('after-kill', { timeoutMs: 20_000 })
      expect(started.worker).toBe('B')
      expect(started.at - t0).toBeLessThan(1_000)
      await harness.waitFor((e) => e.type === 'event' && e.name === 'completed' && e.jobId === 'after-kill', {
        timeoutMs: 10_000,
      })
      expect(await parent.storage.getJob(ns, 'after-kill')).toMatchObject({
        status: 'completed',
        attempts: 1,
        stalledCount: 0,
      })
    } finally {
      await admin.end({ timeout: 1 })
    }
  })

  test('SIGSTOP past lockTtlMs: the job re-runs elsewhere; after SIGCONT the zombie completion is rejected and the re-run result stays', async () => {
    harness = new CrashHarness()
    const env = nextEnv()
    const ns = `pg/${env}`
    // A would hold the job for a minute (it is frozen long before), however long B takes to start.
    const a = await harness.start(spec('A', env, { durationMs: 60_000 }))
    await parent.broker.add(ns, newJob('crash', { id: 'freeze-me' }))
    await harness.waitForStart('freeze-me', { worker: 'A' })
    const b = await harness.start(spec('B', env, { durationMs: 100 }))

    const pause = a.pause()
    await harness.waitForStart('freeze-me', { after: pause, timeoutMs: 20_000 })
    // The zombie wakes while the re-run holds the lease: its heartbeat and its completion must both bounce.
    a.resume()
    await harness.waitFor(
      (e) =>
        e.type === 'event' &&
        e.name === 'lease-lost' &&
        e.worker === 'A' &&
        e.jobId === 'freeze-me' &&
        e.detail === 'completion rejected',
      { timeoutMs: 15_000, what: "A's stale completion to be rejected" },
    )
    await harness.waitFor(
      (e) => e.type === 'event' && e.name === 'completed' && e.jobId === 'freeze-me' && e.worker === 'B',
      { timeoutMs: 15_000 },
    )
    await sleep(300) // anything late from A would land now

    const job = await parent.storage.getJob(ns, 'freeze-me')
    expect(job).toMatchObject({ status: 'completed', stalledCount: 1, workerId: b.workerIds.main })
    expect((job!.result as { by: string }).by).toBe(b.workerIds.main)
    expect(harness.completions('freeze-me')).toBe(1)
    expect(
      harness.events.some(
        (e) => e.type === 'event' && e.name === 'completed' && e.jobId === 'freeze-me' && e.worker === 'A',
      ),
    ).toBe(false)
  })

  test('2,000 jobs through 3 workers (concurrency 10) while a random worker is SIGKILLed and restarted every few seconds: none lost, none completed twice', async () => {
    harness = new CrashHarness()
    const env = nextEnv()
    const ns = `pg/${env}`
    const concurrency = 10
    const total = 2_000
    // A 2.5 s lease: under CPU contention a live worker's renewal must never be late enough to lose a job,
    // or its re-run would count as a duplicate start that no kill caused.
    const work = keepAll({
      heartbeatMs: 250,
      lockTtlMs: 2_500,
      stallIntervalMs: 250,
      concurrency,
      maxStalledCount: 20,
    })
    let generation = 0
    const startOne = (slot: number) =>
      harness.start(spec(`W${slot}.${++generation}`, env, { work, durationMs: 120 }))
    const workers: ChildWorker[] = await Promise.all([0, 1, 2].map(startOne))

    const ids: string[] = []
    for (let from = 0; from < total; from += 500) {
      const batch = Array.from({ length: Math.min(500, total - from) }, (_, i) =>
        newJob('crash', { id: `soak-${from + i}`, data: { n: from + i }, maxAttempts: 5 }),
      )
      ids.push(...batch.map((j) => j.id))
      await parent.broker.addBulk(ns, batch)
    }

    const completed = async () => (await parent.storage.countJobs(ns, 'crash')).completed
    const kills: Interruption[] = []
    let finished = false
    const chaos = (async () => {
      while (!finished) {
        await sleep(1_000 + Math.random() * 1_500)
        if (finished) break
        const slot = Math.floor(Math.random() * workers.length)
        kills.push(workers[slot]!.kill())
        await workers[slot]!.exited
        workers[slot] = await startOne(slot)
      }
    })()
    try {
      await waitUntil(async () => (await completed()) === total, 90_000, `${total} completed jobs`)
    } finally {
      finished = true
      await chaos
    }

    const counts = await parent.storage.countJobs(ns, 'crash')
    expect(counts).toMatchObject({ completed: total, active: 0, waiting: 0, failed: 0, stalled: 0 })
    // None lost: each id is there and completed.
    const perJob = completionCounts(harness)
    for (const id of ids) expect(perJob.get(id) ?? 0, `completions of ${id}`).toBeLessThanOrEqual(1)
    // A child killed between the commit of a completion and its IPC report leaves a job with none reported;
    // at most the jobs it was running can be in that state.
    const unreported = ids.filter((id) => !perJob.has(id)).length
    expect(unreported).toBeLessThanOrEqual(kills.length * concurrency)
    for (const id of ids.filter((id) => !perJob.has(id)))
      expect((await parent.storage.getJob(ns, id))?.status).toBe('completed')
    expect(kills.length).toBeGreaterThanOrEqual(3)
    const dupes = duplicateStarts(harness)
    expect(dupes).toBeLessThanOrEqual(kills.length * concurrency)
    console.info(
      `soak: ${total} jobs, ${kills.length} kills, ${dupes} duplicate starts, ${unreported} completions unreported by killed children`,
    )
  }, 120_000)
})

// ---------------------------------------------------------------------------------------------------------
// A PostgreSQL cluster of this test's own, on its own loopback port, restarted with `pg_ctl restart -m fast`.

function findPgBin(): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  for (const version of readdirSync(root).sort().reverse()) {
    const bin = join(root, version, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin
  }
  return null
}

const pgBin = findPgBin()
const isRoot = process.getuid?.() === 0
if (!pgBin) {
  if (IS_CI)
    throw new Error('initdb and pg_ctl (/usr/lib/postgresql/*/bin) are needed for the restart test under CI.')
  console.warn('initdb/pg_ctl not found: skipping the PostgreSQL restart test.')
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Run a PostgreSQL binary, as the `postgres` OS user when we are root (initdb refuses root). */
function pg(tool: string, args: string[]) {
  const path = join(pgBin!, tool)
  return isRoot ? run('runuser', ['-u', 'postgres', '--', path, ...args]) : run(path, args)
}

describe.runIf(pgBin !== null)('a PostgreSQL restart under load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oqron-pg-'))
  const data = join(dir, 'data')
  let port = 0
  let harness: CrashHarness

  beforeAll(async () => {
    if (isRoot) await run('chown', ['postgres', dir])
    port = await freePort()
    await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
    await pg('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=100`,
      'start',
    ])
  })
  afterEach(async () => {
    await harness?.close()
  })
  afterAll(async () => {
    if (existsSync(join(data, 'postmaster.pid')))
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })

  test('pg_ctl restart -m fast mid-run: workers reconnect and every job completes, none twice', async () => {
    harness = new CrashHarness()
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    const schema = 'restart'
    const ns = 'pg/restart'
    const total = 1_000
    const concurrency = 10
    await migrate({ url, schema })
    const adapter = {
      module: fixture,
      export: 'postgres',
      options: { url, schema, relistenDelayMs: 100 },
      execArgv,
    }
    // lockTtlMs covers the restart, so leases outlive it and settles retried after it still land.
    const work = keepAll({ heartbeatMs: 500, lockTtlMs: 4_000, stallIntervalMs: 500, concurrency })
    const workers = await Promise.all(
      ['A', 'B'].map((name) =>
        harness.start({
          adapter,
          queue: 'crash',
          project: 'pg',
          environment: 'restart',
          name,
          work,
          durationMs: 40,
        }),
      ),
    )

    const parentAdapter = postgresAdapter({ url }, { schema, max: 2 })
    try {
      await parentAdapter.open()
      const ids = Array.from({ length: total }, (_, i) => `r-${i}`)
      await parentAdapter.broker.addBulk(
        ns,
        ids.map((id) => newJob('crash', { id, maxAttempts: 5 })),
      )
      const completed = async () => (await parentAdapter.storage.countJobs(ns, 'crash')).completed
      await waitUntil(async () => (await completed()) >= total / 4, 30_000, 'a quarter of the jobs')

      const restartedAt = Date.now()
      await pg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-m', 'fast', '-w', 'restart'])
      await waitUntil(
        async () => (await completed().catch(() => 0)) === total,
        60_000,
        `${total} completed jobs`,
      )

      const counts = await parentAdapter.storage.countJobs(ns, 'crash')
      expect(counts).toMatchObject({ completed: total, active: 0, failed: 0, waiting: 0 })
      const perJob = completionCounts(harness)
      for (const id of ids) expect(perJob.get(id) ?? 0, `completions of ${id}`).toBeLessThanOrEqual(1)
      // Both workers survived the restart and went on completing jobs on new connections.
      for (const w of workers) {
        expect(w.process.exitCode, `${w.name} exited; its output:\n${w.logs}`).toBeNull()
        expect(
          harness.events.some(
            (e) => e.type === 'event' && e.name === 'completed' && e.worker === w.name && e.at > restartedAt,
          ),
          `${w.name} completed jobs after the restart`,
        ).toBe(true)
      }
      // A completion whose commit raced the disconnect may be unreported (retried, found settled) but is stored.
      const reported = [...perJob.values()].reduce((a, b) => a + b, 0)
      // Where duplicate starts come from (diagnostics only): the first two re-run jobs, as seen by both sides.
      const dupes = [...harness.executionCounts()].filter(([, n]) => n > 1).slice(0, 2)
      for (const [id] of dupes) {
        const seen = harness
          .describe()
          .split('\n')
          .filter((line) => line.includes(` ${id} `) || line.endsWith(` ${id}`))
        const timeline = (await parentAdapter.storage.getJob(ns, id))?.timeline.map(
          (e) => `${e.event}:${e.workerId ?? ''}`,
        )
        console.info(`re-run ${id}:\n  ${seen.join('\n  ')}\n  timeline ${timeline?.join(' ')}`)
      }
      console.info(
        `restart: ${reported}/${total} completions reported, ${duplicateStarts(harness)} duplicate starts`,
      )
    } finally {
      await parentAdapter.close()
    }
  }, 120_000)
})
