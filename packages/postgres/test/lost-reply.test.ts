import { createServer } from 'node:net'
import { type JobStatus, OqronConfigError } from '@oqronkit/core'
import type { LossyProxy, ReplyLoss } from '@oqronkit/testkit/proxy'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  enqueueInTransaction,
  type PostgresAdapterOptions,
  type PostgresAdapters,
  postgresAdapter,
} from '../src/index.js'
import { render } from '../src/render.js'
import { claimRoutine } from '../src/routines.js'
import * as J from '../src/sql/jobs.js'
import { adminSql, DATABASE_URL, newJob, proxiedAdapter, randomSchema, runSuite, sleep } from './helpers.js'

/**
 * ReadyForQuery outside a transaction block (status `I`): the server has finished (and committed) the
 * statements sent before it — for a claim, its one call of the claim routine (see laneClaim).
 */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49])

/**
 * Loses the reply to the first statement whose Parse (or simple Query) message contains `marker`: its Parse,
 * Bind and Execute reach the server, and from its Execute on nothing comes back; the connection is cut once the server says
 * it is ready for the next query, i.e. the statement ran and committed (with `cut: false` never: the
 * connection stays open and nothing more comes back on it, as when the server's host is gone). Reads the client's messages whole
 * (type byte and length; a new connection starts with the startup message, which has no type byte).
 */
function loseStatementReply(marker: string, { cut = true } = {}): (fresh: boolean) => ReplyLoss {
  const wanted = Buffer.from(marker)
  return (fresh) => {
    let pending = Buffer.alloc(0)
    let startup = fresh
    let marked = false
    return {
      sent(chunk) {
        pending = Buffer.concat([bytes(pending), bytes(chunk)])
        for (;;) {
          const head = startup ? 0 : 1
          if (pending.length < head + 4) return false
          const size = head + pending.readUInt32BE(head)
          if (pending.length < size) return false
          const type = startup ? '' : String.fromCharCode(pending[0]!)
          const message = pending.subarray(0, size)
          pending = pending.subarray(size)
          startup = false
          if (type === 'P' && message.includes(wanted)) marked = true
          else if (type === 'E' && marked) return true
          // A statement without parameters may go as a simple query (postgres.js sends `commit` so).
          else if (type === 'Q' && message.includes(wanted)) return true
        }
      },
      // Without `cut` the connection stays open and silent: a half-open connection.
      cut: (held) => cut && held.includes(READY_FOR_QUERY),
    }
  }
}

/** A Buffer seen as a plain Uint8Array (Node 20's Buffer typings and TypeScript 5.9 disagree). */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/** The queue's counts once `ready` holds, or after 3 s whatever they are. */
async function countsOnce(
  a: PostgresAdapters,
  ns: string,
  queue: string,
  ready: (c: Record<JobStatus, number>) => boolean,
) {
  const t0 = Date.now()
  let counts = await a.storage.countJobs(ns, queue)
  while (!ready(counts) && Date.now() - t0 < 3_000) {
    await sleep(25)
    counts = await a.storage.countJobs(ns, queue)
  }
  return counts
}

let slowTriggers = 0

/**
 * Makes the next claim of `a` (the claim routine runs with plan_cache_mode = force_generic_plan) sleep
 * `seconds` on the server before it updates its rows. One-shot through a sequence, which takes no lock, so
 * statements of the main pool meanwhile are not held up by it. The trigger stays (a no-op from then on); the
 * schema goes with the suite.
 */
async function slowNextClaim(a: PostgresAdapters, seconds: number): Promise<void> {
  const schema = `"${a.schema}"`
  const name = `${schema}.slow_${++slowTriggers}`
  await a.sql.unsafe(`create sequence ${name}`)
  await a.sql.unsafe(`create function ${name}() returns trigger language plpgsql as $$
    begin
      if current_setting('plan_cache_mode') = 'force_generic_plan' and nextval('${name}') = 1 then
        perform pg_sleep(${seconds});
      end if;
      return null;
    end $$`)
  await a.sql.unsafe(
    `create trigger slow_${slowTriggers} before update on ${schema}.jobs for each statement execute function ${name}()`,
  )
}

/**
 * For the tests of the enclosing describe: an opened adapter behind its own LossyProxy (see proxiedAdapter),
 * handed to `use` before they run, closed (schema dropped) after them.
 */
function withProxiedAdapter(
  options: PostgresAdapterOptions,
  use: (made: { proxy: LossyProxy; a: PostgresAdapters }) => void,
): void {
  let close = async () => {}
  beforeAll(async () => {
    const made = await proxiedAdapter(options)
    close = made.close
    await made.a.open()
    use(made)
  })
  afterAll(() => close())
}

describe.runIf(runSuite)('a claim whose reply is lost gives its jobs back at once', () => {
  let proxy: LossyProxy
  let a: PostgresAdapters
  let n = 0
  const ns = () => `lost-${++n}`
  const request = { workerId: 'w-lost', leaseMs: 60_000 }
  // prepare: false, so every statement carries its text (the proxy's marker), not only its first run.
  withProxiedAdapter({ prepare: false }, (made) => ({ proxy, a } = made))

  test('claim: the committed claim is released (front of the queue, attempt not counted); other holders keep theirs', async () => {
    const s = ns()
    await a.broker.add(s, newJob('q'))
    const [other] = await a.broker.claim(s, 'q', { ...request, limit: 1 })
    const lost = [newJob('q'), newJob('q'), newJob('q')]
    const later = newJob('q')
    await a.broker.addBulk(s, [...lost, later])
    // The claim's reply is lost: the claim committed, and the caller cannot know it.
    const losing = proxy.loseReply(loseStatementReply(claimRoutine(a.schema).name))
    await expect(a.broker.claim(s, 'q', { ...request, limit: 3 })).rejects.toThrow()
    await losing
    // The claim committed (3 taken, `later` left waiting), but nobody holds its tokens: without the
    // give-back they would stay handed out for the whole 60 s lease.
    expect(await countsOnce(a, s, 'q', (c) => c.waiting === 4)).toMatchObject({ waiting: 4, active: 1 })
    const stillHeld = await a.storage.getJob(s, other!.id)
    expect(stillHeld).toMatchObject({ status: 'active', token: other!.token })
    for (const job of lost) {
      const back = await a.storage.getJob(s, job.id)
      expect(back).toMatchObject({ status: 'waiting', attempts: 0, token: null, workerId: null })
      expect(back!.timeline.at(-1)).toMatchObject({ event: 'released', detail: 'claim reply lost' })
    }
    // Still at the front: the next claim takes them first, in order.
    const again = await a.broker.claim(s, 'q', { ...request, limit: 3 })
    expect(again.map((j) => j.id)).toEqual(lost.map((j) => j.id))
    expect(again.every((j) => j.attempts === 1)).toBe(true)
  })

  test('claim that found nothing: the park it left is deleted by the give-back, so no later add is pushed into it', async () => {
    // Parks need the LISTEN connection (and its holder lock): the first wait starts it.
    await a.broker.claim('warm', 'q', { ...request, limit: 1 })
    await a.broker.waitForWork('warm', 'q', 10, new AbortController().signal)
    const s = ns()
    const admin = adminSql()
    const parks = async () =>
      (await admin.unsafe(`select 1 from "${a.schema}".parks where ns = $1`, [s] as never)).length
    try {
      const losing = proxy.loseReply(loseStatementReply(claimRoutine(a.schema).name))
      await expect(a.broker.claim(s, 'q', { ...request, limit: 1 })).rejects.toThrow()
      await losing
      // The claim committed its park (60 s, the lease) and the caller never learnt its prefix.
      const t0 = Date.now()
      while ((await parks()) > 0 && Date.now() - t0 < 3_000) await sleep(25)
      expect(await parks()).toBe(0)
      const added = await a.broker.add(s, newJob('q'))
      expect(await a.storage.getJob(s, added.job!.id)).toMatchObject({ status: 'waiting', attempts: 0 })
    } finally {
      await admin.end({ timeout: 1 })
    }
  })

  test('completeAndClaim: the successors it claimed are released; the completion stands', async () => {
    const s = ns()
    const first = newJob('q')
    await a.broker.add(s, first)
    const [running] = await a.broker.claim(s, 'q', { ...request, limit: 1 })
    expect(running!.id).toBe(first.id)
    const next = [newJob('q'), newJob('q'), newJob('q')]
    await a.broker.addBulk(s, next)
    // The completion is answered; the reply of the claim of its successors (two, committed) is lost.
    const losing = proxy.loseReply(loseStatementReply(claimRoutine(a.schema).name))
    expect(
      await a.broker.completeAndClaim!(s, running!.id, running!.token!, { ok: 1 }, { ...request, limit: 2 }),
    ).toEqual({ completed: true, jobs: [] })
    await losing
    expect(await countsOnce(a, s, 'q', (c) => c.waiting === 3)).toMatchObject({
      completed: 1,
      waiting: 3,
      active: 0,
    })
    expect(await a.storage.getJob(s, first.id)).toMatchObject({ status: 'completed', result: { ok: 1 } })
    for (const job of next.slice(0, 2))
      expect((await a.storage.getJob(s, job.id))!.timeline.at(-1)).toMatchObject({
        event: 'released',
        detail: 'claim reply lost',
      })
  })
  test('close() after lost replies does not wait out its grace period for the cut connections', async () => {
    // postgres.js keeps a statement cut by a dropped link as its connection's current query, and
    // `end({ timeout })` waited the whole timeout (5 s) for that connection; the adapter waits only for its
    // own statements still running (none here).
    const t0 = performance.now()
    await a.close!()
    expect(performance.now() - t0).toBeLessThan(1_000)
  })
})

describe.runIf(runSuite)(
  'a statement left without an answer (half-open connection) fails after replyTimeoutMs',
  () => {
    let proxy: LossyProxy
    let a: PostgresAdapters
    let n = 0
    const ns = () => `silent-${++n}`
    const request = { workerId: 'w-silent', leaseMs: 60_000 }
    const replyTimeoutMs = 500
    withProxiedAdapter({ prepare: false, replyTimeoutMs }, (made) => ({ proxy, a } = made))

    test('claim: fails after replyTimeoutMs instead of waiting for TCP keepalive; its jobs are given back; the next claim runs on a new connection', async () => {
      const s = ns()
      const jobs = [newJob('q'), newJob('q'), newJob('q')]
      await a.broker.addBulk(s, jobs)
      void proxy.loseReply(loseStatementReply(claimRoutine(a.schema).name, { cut: false }))
      const t0 = performance.now()
      await expect(a.broker.claim(s, 'q', { ...request, limit: 3 })).rejects.toThrow(
        /no answer in 500 ms \(replyTimeoutMs\)/,
      )
      const waited = performance.now() - t0
      expect(waited).toBeGreaterThanOrEqual(replyTimeoutMs - 20)
      expect(waited).toBeLessThan(replyTimeoutMs + 1_000)
      // The claim committed on the server; its jobs come back at once (the give-back of a lost claim).
      expect(await countsOnce(a, s, 'q', (c) => c.waiting === 3)).toMatchObject({ waiting: 3, active: 0 })
      const again = await a.broker.claim(s, 'q', { ...request, limit: 3 })
      expect(again.map((j) => j.id)).toEqual(jobs.map((j) => j.id))
    })

    test('claim: the give-back also releases lane jobs that a read wrote as row claims while it ran', async () => {
      const s = ns()
      const jobs = [newJob('q'), newJob('q'), newJob('q')]
      await a.broker.addBulk(s, jobs)
      void proxy.loseReply(loseStatementReply(claimRoutine(a.schema).name, { cut: false }))
      const claiming = a.broker.claim(s, 'q', { ...request, limit: 3 }).then(
        () => 'answered',
        () => 'failed',
      )
      const admin = adminSql()
      let commit = () => {}
      try {
        // The claim committed (its lease is there); its caller waits replyTimeoutMs for the answer.
        const leased = async () =>
          (await admin.unsafe(`select 1 from "${a.schema}".leases where ns = $1`, [s])).length > 0
        while (!(await leased())) await sleep(10)
        // Meanwhile a read writes the lease's jobs as row claims (as countJobs does), in a transaction left
        // open: the give-back, once the claim has failed, deletes the lease and waits on those rows, which its
        // snapshot saw waiting in the lane. When they commit they are active under the claim's tokens.
        const held = new Promise<void>((resolve) => (commit = resolve))
        let wrote = () => {}
        const written = new Promise<void>((resolve) => (wrote = resolve))
        const reading = admin.begin(async (tx) => {
          await tx.unsafe(render(J.MATERIALIZE_QUEUE, a.schema), [s, 'q'])
          wrote()
          await held
        })
        await written
        expect(await claiming).toBe('failed')
        await sleep(200)
        commit()
        await reading
        // Before: the give-back stopped there, and the jobs stayed handed out to nobody for the 60 s lease.
        expect(await countsOnce(a, s, 'q', (c) => c.waiting === 3)).toMatchObject({ waiting: 3, active: 0 })
        for (const job of jobs)
          expect((await a.storage.getJob(s, job.id))!.timeline.at(-1)).toMatchObject({
            event: 'released',
            detail: 'claim reply lost',
          })
      } finally {
        commit()
        await admin.end({ timeout: 1 })
      }
    })

    test('claim: a claim the server is still running is not cut: slower than replyTimeoutMs, it returns its jobs', async () => {
      const s = ns()
      const jobs = [newJob('q'), newJob('q'), newJob('q')]
      await a.broker.addBulk(s, jobs)
      await slowNextClaim(a, 1.5)
      const t0 = performance.now()
      const claimed = await a.broker.claim(s, 'q', { ...request, limit: 3 })
      // Before: the deadline closed the claim's connection at 500 ms and the claim failed (and then, retried,
      // failed again every time: a statement slower than replyTimeoutMs could never succeed).
      expect(performance.now() - t0).toBeGreaterThan(1_400)
      expect(claimed.map((j) => j.id)).toEqual(jobs.map((j) => j.id))
      for (const job of claimed) {
        expect(await a.storage.getJob(s, job.id)).toMatchObject({ status: 'active', token: job.token })
      }
    })

    test('renew: fails after replyTimeoutMs; the next renewal, on a new connection, keeps the lease', async () => {
      const s = ns()
      const job = newJob('q')
      await a.broker.add(s, job)
      const [held] = await a.broker.claim(s, 'q', { ...request, limit: 1 })
      void proxy.loseReply(loseStatementReply("else 'lost'", { cut: false }))
      const t0 = performance.now()
      await expect(a.broker.renew(s, job.id, held!.token!, 60_000)).rejects.toThrow(/replyTimeoutMs/)
      expect(performance.now() - t0).toBeLessThan(replyTimeoutMs + 1_000)
      expect(await a.broker.renew(s, job.id, held!.token!, 60_000)).toBe('ok')
      expect(await a.storage.getJob(s, job.id)).toMatchObject({ status: 'active', token: held!.token })
    })

    test("add in the caller's transaction: a late answer leaves the adapter's connections alone", async () => {
      const s = ns()
      await a.storage.countJobs(s, 'q') // the main pool has its connection
      // The caller's own client, through the same proxy; the answer to its add never comes back.
      const url = new URL(DATABASE_URL)
      url.port = String(proxy.port)
      const caller = postgres(url.toString(), { max: 1, prepare: false, onnotice: () => {} })
      await caller`select 1`
      const before = proxy.accepted
      void proxy.loseReply(loseStatementReply("$10::text = 'hold'", { cut: false }))
      const adding = caller.begin((tx) => enqueueInTransaction(tx, a, s, newJob('q')))
      adding.catch(() => {})
      await sleep(3 * replyTimeoutMs)
      // Before: every 500 ms the adapter opened a connection to ask its own server about the add's backend
      // (here idle in transaction, so taken as working; a pid its server does not know, as behind a pooler,
      // closed the adapter's main pool and LISTEN connection), and the add went on waiting all the same.
      expect(proxy.accepted).toBe(before)
      expect(await a.storage.countJobs(s, 'q')).toMatchObject({ waiting: 0 })
      expect(proxy.accepted).toBe(before)
      await caller.end({ timeout: 0 })
      await expect(adding).rejects.toThrow()
    })

    test('replyTimeoutMs must be a non-negative integer', () => {
      for (const bad of [-1, 1.5, Number.NaN]) {
        expect(() => postgresAdapter({ url: DATABASE_URL }, { replyTimeoutMs: bad })).toThrow(
          OqronConfigError,
        )
      }
    })
  },
)

describe.runIf(runSuite)(
  'a statement late by replyTimeoutMs while the server is at its connection limit',
  () => {
    test('the server refusing the question is an answer: a slow claim is not cut', async () => {
      // A role of its own, limited (once the adapter is open) to the connections it has: the question about
      // the slow claim's backend needs one more and is refused (53300, too many connections for role).
      const admin = adminSql()
      const role = randomSchema('oq_limited')
      const database = new URL(DATABASE_URL).pathname.slice(1) || 'postgres'
      const url = new URL(DATABASE_URL)
      url.username = role
      const schema = randomSchema()
      await admin.unsafe(`create role ${role} login`)
      await admin.unsafe(`grant create on database "${database}" to ${role}`)
      const a = postgresAdapter({ url: url.toString() }, { schema, replyTimeoutMs: 500, prepare: false })
      try {
        await a.open()
        const jobs = [newJob('q'), newJob('q'), newJob('q')]
        await a.broker.addBulk('limited', jobs)
        await a.broker.claim('limited', 'empty', { workerId: 'w', leaseMs: 60_000, limit: 1 })
        await slowNextClaim(a, 1.5)
        const counted = await admin
          .unsafe('select count(*)::int from pg_stat_activity where usename = $1::text', [role])
          .values()
        const open = counted[0]![0] as number
        await admin.unsafe(`alter role ${role} connection limit ${open}`)
        const t0 = performance.now()
        const claimed = await a.broker.claim('limited', 'q', { workerId: 'w', leaseMs: 60_000, limit: 3 })
        // Before: no answer to the question was taken for a dead path, and the claim's pool was closed at 500 ms.
        expect(performance.now() - t0).toBeGreaterThan(1_400)
        expect(claimed.map((j) => j.id)).toEqual(jobs.map((j) => j.id))
      } finally {
        await a.close()
        await admin.unsafe(`drop schema if exists "${schema}" cascade`)
        await admin.unsafe(`revoke create on database "${database}" from ${role}`)
        await admin.unsafe(`drop role ${role}`)
        await admin.end({ timeout: 1 })
      }
    })
  },
)

describe.runIf(runSuite)(
  'a claim left without an answer while its backend still runs it (prepared statements)',
  () => {
    let proxy: LossyProxy
    let a: PostgresAdapters
    let n = 0
    const ns = () => `running-${++n}`
    const request = { workerId: 'w-running', leaseMs: 60_000 }
    // Prepared: a claim's transaction (begin, lane lock, claim, commit) is sent in one go only once the claim's
    // statement is prepared; unprepared, postgres.js waits for its description before sending it and the
    // commit, and a connection closed meanwhile commits nothing (nothing to give back).
    withProxiedAdapter({ prepare: true, replyTimeoutMs: 500 }, (made) => ({ proxy, a } = made))

    test('claim: a claim still running when its connection was closed is given back once its backend commits it', async () => {
      const s = ns()
      const jobs = [newJob('q'), newJob('q'), newJob('q')]
      await a.broker.addBulk(s, jobs)
      // The next claim first sleeps 1.5 s on the server. Meanwhile the server cannot be reached on a new
      // connection, so the deadline's question (is its backend still at it?) gets no answer and the claim's
      // connection is closed; the backend goes on and commits the claim (its `commit` was sent with it: the
      // claim is a prepared statement by now, so the four statements of its transaction go out together). The
      // claim's client has a connection open before (an empty claim, which also prepares the claim), the main
      // pool has the add's, for the give-back.
      await a.broker.claim(s, 'empty', { ...request, limit: 1 })
      await slowNextClaim(a, 1.5)
      proxy.freezeNew(true)
      try {
        await expect(a.broker.claim(s, 'q', { ...request, limit: 3 })).rejects.toThrow(/replyTimeoutMs/)
      } finally {
        proxy.freezeNew(false)
      }
      // Before: the give-back ran at once, found nothing (not committed yet) and stopped; the claim then
      // committed and its jobs stayed active under tokens nobody held for the whole 60 s lease.
      const t0 = Date.now()
      const released = async () => {
        const back = await Promise.all(jobs.map((job) => a.storage.getJob(s, job.id)))
        return back.every((j) => j?.timeline.at(-1)?.event === 'released') ? back : null
      }
      let back = await released()
      while (!back && Date.now() - t0 < 5_000) {
        await sleep(50)
        back = await released()
      }
      // The released entries prove that the claim did commit (after the 1.5 s sleep) and was given back.
      expect(Date.now() - t0).toBeGreaterThan(300)
      for (const job of back ?? []) {
        expect(job).toMatchObject({ status: 'waiting', attempts: 0, token: null })
        expect(job!.timeline.at(-1)).toMatchObject({ event: 'released', detail: 'claim reply lost' })
      }
      expect(back).not.toBeNull()
    })
  },
)

describe.runIf(runSuite)('a statement late by replyTimeoutMs on a URL of several hosts', () => {
  test('the question goes to the host the pool is connected to, not to a first host that stopped answering', async () => {
    // The URL's first host is a loopback port nobody listens on while the adapter connects, so its pools
    // connect to the second. Then something starts listening there that accepts connections and never
    // answers (a host gone silent). A claim slower than replyTimeoutMs must be asked about where it runs.
    const grab = createServer().listen(0, '127.0.0.1')
    await new Promise((resolve) => grab.once('listening', resolve))
    const first = (grab.address() as { port: number }).port
    await new Promise((resolve) => grab.close(resolve))
    const url = new URL(DATABASE_URL)
    const hosts = `127.0.0.1:${first},${url.hostname}:${url.port || 5432}`
    const multi = `postgres://${url.username}${url.password ? `:${url.password}` : ''}@${hosts}${url.pathname}`
    const schema = randomSchema()
    const a = postgresAdapter({ url: multi }, { schema, replyTimeoutMs: 500, prepare: false })
    const admin = adminSql()
    const held = new Set<import('node:net').Socket>()
    const silent = createServer((socket) => {
      held.add(socket)
      socket.on('error', () => {})
    })
    try {
      await a.open()
      const jobs = [newJob('q'), newJob('q'), newJob('q')]
      await a.broker.addBulk('multi', jobs)
      await a.broker.claim('multi', 'none', { workerId: 'w', leaseMs: 60_000, limit: 1 }) // the claim pool connects
      await slowNextClaim(a, 1.5)
      silent.listen(first, '127.0.0.1')
      await new Promise((resolve) => silent.once('listening', resolve))
      const t0 = performance.now()
      const claimed = await a.broker.claim('multi', 'q', { workerId: 'w', leaseMs: 60_000, limit: 3 })
      // Before: the question went to the URL's first host, got no answer within replyTimeoutMs, and the claim's
      // pool was closed at ~1 s, failing the claim.
      expect(performance.now() - t0).toBeGreaterThan(1_400)
      expect(claimed.map((j) => j.id)).toEqual(jobs.map((j) => j.id))
    } finally {
      for (const socket of held) socket.destroy()
      silent.close()
      await a.close()
      await admin.unsafe(`drop schema if exists "${schema}" cascade`)
      await admin.end({ timeout: 1 })
    }
  })
})
