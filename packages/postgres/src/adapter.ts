import { randomUUID } from 'node:crypto'
import {
  AdapterError,
  type AddResult,
  assertDurationMs,
  assertPageLimit,
  assertSerializable,
  Batcher,
  type BrokerAdapter,
  type ClaimRequest,
  type CompleteOptions,
  type FailRequest,
  JOB_STATUSES,
  type JobPage,
  type JobRecord,
  type JobStatus,
  type ListQuery,
  type LockAdapter,
  type NewJob,
  type NextClaim,
  type OqronAdapters,
  OqronConfigError,
  type PruneRequest,
  type RenewOutcome,
  type StallOutcome,
  type StallScanRequest,
  type StorageAdapter,
  storableText,
  type TextCheck,
  type TimelineEntry,
  UnserializableDataError,
} from '@oqronkit/core'
import postgres from 'postgres'
import { assertSchemaVersion, checkSchemaName, requireUrl, runMigrations } from './migrate.js'
import { Notifier } from './notifier.js'
import {
  NO_TYPE_FETCH,
  type PostgresAdapterOptions,
  type PostgresConnection,
  postgresAdapterDefaults,
  type Sql,
  type TransactionSql,
} from './options.js'
import { BackendProbe } from './probe.js'
import { renderAll } from './render.js'
import { claimRoutine } from './routines.js'
import { ADD_DEFAULTS, JOB_WIDTH, type Row, toAddedJob, toClaimedJobs, toJob } from './row.js'
import { OwnSockets } from './sockets.js'
import * as J from './sql/jobs.js'
import * as S from './sql/storage.js'

/** Options of one `add`/`addBulk` call that only this adapter understands. */
export interface PostgresAddOptions {
  /**
   * Insert inside the caller's own postgres.js transaction (`sql.begin(tx => ...)`): the job exists if
   * and only if that transaction commits, and consumers are notified at commit.
   */
  tx?: TransactionSql
}

/** The Broker of this adapter: the contract, plus `{ tx }` on add and addBulk. */
export interface PostgresBroker extends BrokerAdapter {
  add(ns: string, job: NewJob, options?: PostgresAddOptions): Promise<AddResult>
  addBulk(ns: string, jobs: NewJob[], options?: PostgresAddOptions): Promise<AddResult[]>
}

/** What `postgresAdapter()` returns. */
export interface PostgresAdapters extends OqronAdapters {
  readonly name: 'postgres'
  readonly broker: PostgresBroker
  /** The schema every object lives in. */
  readonly schema: string
  /** The postgres.js client the adapter runs on (yours, or the one it created from `url`). */
  readonly sql: Sql
  open(): Promise<void>
  /** Test and diagnostics hook: the backend pid of the LISTEN connection. */
  listenerPid(): Promise<number>
}

type Db = Sql | TransactionSql

/**
 * Seconds before a pooled connection reconnects after an error. postgres.js's default grows with a retry
 * count shared by the whole pool (3^n / 100 s, up to 20 s), so after a server restart ten connections
 * failing together put every reconnect 10–20 s away while statements queued on them wait — long enough
 * for leases to expire and jobs to re-run. Here: 50 ms doubling, at most 1 s, jittered.
 */
function reconnectBackoff(retries: number): number {
  return Math.min(1, 0.05 * 2 ** Math.min(retries, 5)) * (0.5 + Math.random() / 2)
}

/**
 * The random part of the tokens of one claim statement, to which each claimed row's token appends its job
 * (`L<ord>` or `R<id>`, see activatePicked in sql/jobs.ts): one draw per call instead of a
 * `gen_random_uuid()` per row on the server. A fresh UUID per call keeps every token unique across all
 * claims, which fencing relies on.
 */
function tokenPrefix(): string {
  return `${randomUUID()}:`
}

/** Length of `tokenPrefix()`: a UUID and `:`. */
const LANE_PREFIX = 37

/** `text` as a JSON string: itself in quotes when nothing in it needs escaping (ids and tokens, nearly always). */
function jsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(text)
  }
  return `"${text}"`
}

/** One job of a completion statement; `byId`: its token is known to stand for a row claim now (see materialize). */
interface Completion {
  id: string
  token: string
  result: unknown
  byId?: boolean
}

/** The `ord` of a lane token (`<prefix>L<ord>`, see CLAIM), or null for any other token. */
function laneOrd(token: string): number | null {
  if (token.length <= LANE_PREFIX + 1 || token.charCodeAt(LANE_PREFIX) !== 76) return null // `L`
  const digits = token.slice(LANE_PREFIX + 1)
  const ord = Number(digits)
  return Number.isSafeInteger(ord) && ord > 0 && String(ord) === digits ? ord : null
}

/**
 * The inputs of a completion statement (INPUT in sql/jobs.ts), written as JSON text directly (a JSON.stringify
 * of an object built for it cost about twice as much per job: ids from the wire are new strings each time):
 * every job's token by id (with `results`, `[token, result]`); the ids of the by-id arm; the lane arm's span
 * of `ord`s per lease prefix (with `lane`, every job with a lane token not known to be a row claim now); the
 * prefixes of the lane tokens left to the by-id arm, each once. `laneIds`: the jobs of the lane arm.
 */
function completionInput(items: Completion[], results: boolean, lane: boolean) {
  let input = '{'
  const rest: string[] = []
  const prefixes = new Set<string>()
  const spans = new Map<string, [number, number]>()
  const laneIds: string[] = []
  for (let i = 0; i < items.length; i++) {
    const { id, token, result, byId } = items[i]!
    const key = jsonString(id)
    input += `${i === 0 ? '' : ','}${key}:`
    input += results ? `[${jsonString(token)},${JSON.stringify(result ?? null)}]` : jsonString(token)
    const ord = lane && !byId ? laneOrd(token) : null
    if (ord === null) {
      rest.push(key)
      if (token.charCodeAt(LANE_PREFIX) === 76) prefixes.add(token.slice(0, LANE_PREFIX))
      continue
    }
    laneIds.push(id)
    const prefix = token.slice(0, LANE_PREFIX)
    const span = spans.get(prefix)
    if (span === undefined) spans.set(prefix, [ord, ord])
    else if (ord < span[0]) span[0] = ord
    else if (ord > span[1]) span[1] = ord
  }
  let lanes = ''
  for (const [prefix, [lo, hi]] of spans)
    lanes += `${lanes === '' ? '' : ','}${jsonString(prefix)}:[${lo},${hi}]`
  return {
    params: [`${input}}`, `[${rest.join(',')}]`, `{${lanes}}`, JSON.stringify([...prefixes]), items.length],
    laneIds,
  }
}

/** Core's check of JSON text for what `jsonb` refuses although JSON carries it: a NUL character, a lone surrogate. */
const jsonbRefuses: TextCheck = (text) =>
  /[\0\p{Cs}]/u.test(text)
    ? 'holds a NUL character or a lone UTF-16 surrogate, which PostgreSQL cannot store in jsonb'
    : null

/** The UnserializableDataError naming the first value of `value` (at `path`) that `jsonb` refuses, or null. */
function unstorable(value: unknown, path: string): UnserializableDataError | null {
  try {
    assertSerializable(value, path, jsonbRefuses)
    return null
  } catch (error) {
    if (error instanceof UnserializableDataError) return error
    throw error
  }
}

/** PostgreSQL refused a JSON input: `\u0000` (SQLSTATE 22P05) or a lone surrogate escape (22P02). */
const jsonbRefused = (error: unknown) => {
  const code = (error as { cause?: { code?: unknown } }).cause?.code
  return code === '22P05' || code === '22P02'
}

/**
 * `run` on completions, each answered on its own when some result cannot be stored. Core lets a result with
 * a NUL character or a lone surrogate through (valid JSON), but `jsonb` refuses it, failing the whole
 * statement: every other completion of the burst with it. Those items are answered with
 * UnserializableDataError and the rest run again, without them. Costs nothing unless a statement failed so.
 */
async function storableOnly<T extends { result: unknown }, R>(
  items: T[],
  run: (items: T[]) => Promise<R[]>,
): Promise<(R | Error)[]> {
  try {
    return await run(items)
  } catch (error) {
    if (!jsonbRefused(error)) throw error
    const bad = items.map((it) => unstorable(it.result, 'result'))
    if (bad.every((refused) => refused === null)) throw error
    const rest = items.filter((_, i) => bad[i] === null)
    const done = rest.length > 0 ? await run(rest) : []
    let k = 0
    return bad.map((refused) => refused ?? done[k++]!)
  }
}

/**
 * An add whose data `jsonb` refused (see jsonbRefuses) as UnserializableDataError naming the first such value,
 * the path core's own check uses (`data`, or `[i].data` in a bulk). Such an add stored nothing: its statement
 * failed whole (inside a caller's transaction, that transaction is aborted, as by any failed statement).
 */
async function storableData<R>(jobs: NewJob[], bulk: boolean, run: () => Promise<R>): Promise<R> {
  try {
    return await run()
  } catch (error) {
    if (!jsonbRefused(error)) throw error
    for (const [i, job] of jobs.entries()) {
      const refused = unstorable(job.data, bulk ? `[${i}].data` : 'data')
      if (refused) throw refused
    }
    throw error
  }
}

/**
 * Throws OqronConfigError, before anything is written, for a job whose priority is past the int4 range, or
 * whose id or queue holds what a `text` column cannot store (see jsonbRefuses). A NUL character fails the
 * statement; a lone surrogate is sent as U+FFFD, so the job was stored under another id than the caller's
 * (which two different ids then share), and the add failed after its insert, on the lookup of the id it did
 * not see come back.
 */
function assertStorableKeys(jobs: NewJob[]): void {
  for (const job of jobs) {
    // `priority` is an int4 column (core checks only that it is an integer): past it the statement failed.
    if (job.priority > MAX_INT4 || job.priority < -MAX_INT4 - 1) {
      throw new OqronConfigError(
        `Job ${job.id}: priority must be an integer from -${MAX_INT4 + 1} to ${MAX_INT4}, got ${job.priority}.`,
        { field: 'priority' },
      )
    }
    for (const field of ['id', 'queue'] as const) {
      const why = typeof job[field] === 'string' ? jsonbRefuses(job[field]) : null
      if (why) {
        throw new OqronConfigError(
          `Job ${field} ${JSON.stringify(job[field])} ${why.replace(' in jsonb', '')}; use another ${field}.`,
          { field },
        )
      }
    }
  }
}

/**
 * Where an add runs: the caller's postgres.js transaction (`{ tx }`), else `sql`. Anything else given as `tx` —
 * a client or pool (its statements are in no transaction: the job would exist whether or not the caller's work
 * commits), another driver's transaction — throws OqronConfigError, as the contract asks, storing nothing.
 * A postgres.js transaction (and a savepoint in one) is the client that has `savepoint`.
 */
function addTarget(sql: Sql, options: PostgresAddOptions | undefined): Db {
  const tx = options?.tx
  if (tx === undefined || tx === null) return sql
  const t = tx as { unsafe?: unknown; savepoint?: unknown }
  if (typeof t.unsafe !== 'function' || typeof t.savepoint !== 'function') {
    throw new OqronConfigError(
      "add(..., { tx }): tx must be a postgres.js transaction, the `tx` of `sql.begin(tx => ...)`; a client, a pool or another driver's transaction cannot hold the job.",
      { field: 'tx' },
    )
  }
  return tx
}

/**
 * `run` on items whose ids are unique, results in the items' order. A completion statement takes one entry
 * per job id, so a job twice in one burst (a stale run's completion beside its re-run's) goes in a statement
 * of its own after the rest, where its own token fences it as usual.
 */
async function byUniqueId<T extends { id: string }, R>(
  items: T[],
  run: (unique: T[]) => Promise<R[]>,
): Promise<R[]> {
  const seen = new Set<string>()
  const again = items.map((item) => {
    if (seen.has(item.id)) return true
    seen.add(item.id)
    return false
  })
  if (!again.includes(true)) return run(items)
  const first = await run(items.filter((_, i) => !again[i]))
  const rest = await byUniqueId(
    items.filter((_, i) => again[i]),
    run,
  )
  let i = 0
  let k = 0
  return again.map((twice) => (twice ? rest[k++]! : first[i++]!))
}

/**
 * ADD_FRESH's reply — one row per queue, status, due time (ms) and delay (whole µs), then the statement's
 * time — as ADD's: a row (id, queue, status, due time, time) per job it inserted, in `sent`'s order. A job's
 * row is the one of its queue and delay (of a disabled queue, for a job to be held only). The server rounds
 * a delay to the microsecond half to even, this `Math.round` half up, so a delay of an odd half microsecond
 * finds no row here: the caller looks such a job up by id (it was inserted all the same).
 */
function perJobRows(
  groups: Row[],
  sent: { id: string; queue: string; delayMs: number; behavior: string }[],
): Row[] {
  const byKey = new Map<string, Row>()
  for (const g of groups) byKey.set(`${g[3]}\u0000${g[0]}`, g)
  const out: Row[] = []
  for (const f of sent) {
    const g = byKey.get(`${Math.round(f.delayMs * 1000)}\u0000${f.queue}`)
    // A disabled queue (its jobs stored `paused`) took only the jobs to be held.
    if (g && (g[1] !== 'paused' || f.behavior === 'hold')) out.push([f.id, g[0], g[1], g[2], g[4]])
  }
  return out
}

/** The options ADD fills in when a job's input leaves them out. */
const DEFAULTED = Object.keys(ADD_DEFAULTS) as (keyof typeof ADD_DEFAULTS)[]

const ALL_STATUSES = JSON.stringify(JOB_STATUSES)
const MAX_BIGINT = '9223372036854775807'

/**
 * The largest `integer` (int4) PostgreSQL stores: the counters (`stalled_count`, `attempts`) can never pass
 * it, so a larger bound on them (core lets any integer through, e.g. Number.MAX_SAFE_INTEGER for "never")
 * means the same as this one, and sent as is it would fail the statement ("out of range for type integer").
 */
const MAX_INT4 = 2_147_483_647

/**
 * The longest delay stored (an add's `delayMs`, a retry's backoff): 10^15 ms, some 31,700 years. A due time
 * past PostgreSQL's timestamps (year 294276) fails the statement ("interval out of range"); core lets any
 * finite delay through (an error's `retryAfterMs` too), and a retry that cannot be written leaves the run to
 * stall and run again. A longer delay is this one: the job stays delayed, as on the other adapters.
 */
const MAX_DELAY_MS = 1e15

/** How long a park outlives its consumer's wait (waitForWork's timeout) before adds pass it by. */
const PARK_SLACK_MS = 1_000

/**
 * `postgresAdapter({ url })` or `postgresAdapter({ sql })`: Storage, Broker and Lock on PostgreSQL.
 * See README.md for the options and docs/postgres.md for the design.
 */
export function postgresAdapter(
  connection: PostgresConnection,
  options: PostgresAdapterOptions = {},
): PostgresAdapters {
  const schema = options.schema ?? postgresAdapterDefaults.schema
  checkSchemaName(schema)
  const prepare = options.prepare ?? postgresAdapterDefaults.prepare
  const max = options.max ?? postgresAdapterDefaults.max
  const relistenDelayMs = options.relistenDelayMs ?? postgresAdapterDefaults.relistenDelayMs
  const shouldMigrate = options.migrate ?? postgresAdapterDefaults.migrate
  const replyTimeoutMs = options.replyTimeoutMs ?? postgresAdapterDefaults.replyTimeoutMs
  if (!Number.isInteger(replyTimeoutMs) || replyTimeoutMs < 0) {
    throw new OqronConfigError(
      `postgresAdapter: replyTimeoutMs must be a non-negative integer (0 turns it off), got ${replyTimeoutMs}.`,
      { field: 'replyTimeoutMs' },
    )
  }
  if (!Number.isInteger(max) || max < 1) {
    throw new OqronConfigError(`postgresAdapter: max must be a positive integer, got ${max}.`, {
      field: 'max',
    })
  }
  if (!connection || (connection.sql === undefined && connection.url === undefined)) requireUrl(undefined)

  const owned = connection.sql === undefined
  // The sockets of each pool this adapter owns, so a statement left without an answer can close them (see
  // replyTimeoutMs), and of the LISTEN connection (see the notifier below).
  const mainSockets = new OwnSockets()
  const claimSockets = new OwnSockets()
  const listenSockets = new OwnSockets()
  const sql: Sql =
    connection.sql ??
    postgres(requireUrl(connection.url), {
      max,
      onnotice: () => {},
      backoff: reconnectBackoff,
      fetch_types: NO_TYPE_FETCH,
      ...mainSockets.option,
    })
  // Claims (the claim routine, which brings its own settings: see CLAIM_ROUTINE) run on clients of their own,
  // so that a claim never waits behind the main pool's statements: two single-connection clients, used in
  // turn (see claimsOn). With a caller's own client (`{ sql }`) claims use that client.
  const claimClient = () =>
    postgres(requireUrl(connection.url), {
      max: 1,
      onnotice: () => {},
      backoff: reconnectBackoff,
      fetch_types: NO_TYPE_FETCH,
      ...claimSockets.option,
    })
  const claimClients: Sql[] = owned ? Array.from({ length: Math.min(2, max) }, claimClient) : []
  // Claims in flight on each claim client: a claim goes to the least busy one, the first on a tie, so a
  // consumer claiming one batch at a time keeps to one connection.
  const claimsOn = claimClients.map(() => 0)
  // The LISTEN connection has sockets of its own and a liveness check (see ListenerCheck); a missed deadline
  // on the main pool closes it too (the same path to the server).
  const notifier = new Notifier(
    sql,
    schema,
    relistenDelayMs,
    owned && replyTimeoutMs > 0 ? { sockets: listenSockets, timeoutMs: replyTimeoutMs } : null,
  )
  const jq = renderAll({ ...J }, schema)
  const sq = renderAll({ ...S }, schema)
  let closed = false

  // Statements that join `jobs` to a set (a JSON input, a CTE, an id array) are planned on every call with
  // their parameters (an unnamed statement, `prepare: false`): a cached generic plan is made once from what
  // the planner then believes of the table, and one made while `jobs` was nearly empty read the whole
  // namespace's primary-key range per call once it was large (a complete of 25 took ~80 ms at 100,000 jobs;
  // see docs/postgres.md, "Plans made on an empty table"). The other single-row statements keep their
  // prepared plans: equality on the whole primary key leaves the planner no other index path. CLAIM, in the
  // claim routine, is planned once per connection and does not depend on the table's size (see
  // activatePicked and CLAIM_ROUTINE).
  const planPerCall = new Set([
    jq.COMPLETE_MANY,
    jq.COMPLETE_MANY_REMOVE,
    jq.COMPLETE_REPORTING,
    jq.COMPLETE_REPORTING_REMOVE,
    jq.RECOVER_STALLED,
    jq.RELEASE_CLAIM,
    jq.MATERIALIZE_IDS,
    jq.MATERIALIZE_QUEUE,
    jq.EXPIRE_LEASES,
    // By id, but their status conditions prove a partial index's predicate (`jobs_list`, `jobs_finished`),
    // which a plan made on an empty table then read by namespace alone.
    jq.RETRY,
    sq.REMOVE,
    sq.LOOKUP,
    sq.LIST_QUEUE,
    sq.LIST_ALL,
    sq.PRUNE,
  ])

  // Statements of this adapter still running, so close() can wait for exactly those (see close()).
  let running = 0
  let settled: (() => void) | null = null
  async function tracked<T>(work: () => Promise<T>): Promise<T> {
    running++
    try {
      return await work()
    } finally {
      if (--running === 0) settled?.()
    }
  }

  // The backend pid a failed statement was running on, if it got that far (postgres.js sets `query.state`
  // to the connection's BackendKeyData when it sends the query): giveBackClaim waits for that backend.
  const backendOf = new WeakMap<Error, number>()

  // A statement still unanswered after replyTimeoutMs: the server is asked whether its backend is still at it
  // (BackendProbe); if so it is left alone and asked about again after another replyTimeoutMs, else its pool's
  // connections are closed (and, for the main pool, the LISTEN connection: the same path to the server).
  // Statements inside a caller's transaction (`{ tx }`) are not watched: the connection and the transaction
  // are the caller's, and closing the adapter's pools would not reach them (or would roll the caller's
  // transaction back under it, when it runs on `adapters.sql`).
  const probe =
    owned && replyTimeoutMs > 0 ? new BackendProbe(requireUrl(connection.url), replyTimeoutMs) : null

  async function rows(
    op: string,
    text: string,
    params: unknown[],
    db: Db = sql,
    watch?: OwnSockets,
  ): Promise<Row[]> {
    const sockets = probe && (watch ?? (db === sql ? mainSockets : null))
    const options = { prepare: prepare && !planPerCall.has(text) }
    const query = db.unsafe(text, params as never, options).values()
    // Sent now, in the order of the calls, not when first awaited.
    query.execute()
    const backend = () => (query as unknown as { state?: { pid?: number | null } | null }).state?.pid
    let unanswered: Promise<void> | null = null
    let answered = false
    let deadline: NodeJS.Timeout | undefined
    const late = async () => {
      // The server is still running it, or it waits for a connection of a busy pool: wait on.
      const waitOn = await probe!.workingOnAny(backend() ?? null, sockets!.targets())
      if (answered) return
      if (waitOn) deadline = setTimeout(late, replyTimeoutMs)
      else
        unanswered =
          sockets === mainSockets
            ? Promise.all([sockets!.destroyAll(), notifier.closeListener()]).then(() => {})
            : sockets!.destroyAll()
    }
    if (sockets) deadline = setTimeout(late, replyTimeoutMs)
    try {
      return (await tracked(async () => query)) as unknown as Row[]
    } catch (err) {
      if (unanswered) await unanswered
      const why = unanswered
        ? `no answer in ${replyTimeoutMs} ms (replyTimeoutMs) and its backend not at it, connections closed`
        : (err as Error).message
      const error = new AdapterError(`PostgreSQL ${op} failed: ${why}`, { cause: err })
      const pid = backend()
      if (typeof pid === 'number') backendOf.set(error, pid)
      throw error
    } finally {
      answered = true
      clearTimeout(deadline)
    }
  }

  // A claim whose reply never arrived (the connection dropped after the statement was sent) may have
  // committed: its jobs would sit leased to nobody until the lease expires and a stall scan recovers them
  // (lockTtlMs, 30 s by default), counting a stall. Its caller still knows the claim's token prefix, so the
  // jobs are given back at once instead: RELEASE_CLAIM on the main pool, retried with a doubling delay
  // (the server may be restarting) until the lease would have expired anyway or the adapter closes. After
  // an error that rolled the claim back it finds nothing. A claim whose connection was closed while it still
  // ran (a missed replyTimeoutMs, a dropped link) is still committed by its backend afterwards, so while that
  // backend (`error`'s pid) is busy RELEASE_CLAIM releases nothing and answers `pending`, and is asked again;
  // so it is once more after it deleted the claim's lease (a read may have written the lease's jobs as row
  // claims meanwhile; see RELEASE_CLAIM).
  // Runs in the background; the caller's error stands.
  const givingBack = new Set<NodeJS.Timeout>()
  function giveBackClaim(
    ns: string,
    queue: string | null,
    prefix: string,
    leaseMs: number,
    error: unknown,
  ): void {
    const until = Date.now() + leaseMs
    const pid = error instanceof Error ? (backendOf.get(error) ?? null) : null
    let delay = 50
    const attempt = async () => {
      if (closed) return
      let again = false
      try {
        const [r] = await rows('releaseClaim', jq.RELEASE_CLAIM, [ns, queue, prefix, pid])
        // Pending, or a lease deleted: once more (see RELEASE_CLAIM).
        again = r![2] === true || r![3] === true
      } catch {
        again = true
      }
      if (again) {
        if (closed || Date.now() + delay >= until) return
        const timer = setTimeout(() => {
          givingBack.delete(timer)
          void attempt()
        }, delay)
        timer.unref()
        givingBack.add(timer)
        delay = Math.min(1_000, delay * 2)
      }
    }
    void attempt()
  }

  // Group commit of `complete`: one statement per burst, each job fenced on its own. Removing and keeping
  // completions are batched apart (the flag is part of the key) and run their own statement. One statement in
  // flight per key, of up to 1,000 jobs: plain `complete` is what prefetching consumers use, whose slots do
  // not wait for it, so fewer and larger statements beat a second one in flight (the bench's drain: ~9 % more
  // jobs/s and ~15 % less Node CPU per job than 200 × 2, in eight interleaved pairs).
  const completer = new Batcher<{ ns: string; remove: boolean } & Completion, boolean | Error>(
    (_key, all) =>
      byUniqueId(all, (unique) =>
        storableOnly(unique, async (items) => {
          const { ns, remove } = items[0]!
          const text = remove ? jq.COMPLETE_MANY_REMOVE : jq.COMPLETE_MANY
          // A removed job's result is stored nowhere: it is left out of the input.
          const { completed } = await completion('complete', text, ns, items, !remove)
          return items.map((it) => completed(it.id))
        }),
      ),
    1_000,
    1,
  )

  /**
   * A completion statement over `items` (COMPLETE_MANY or COMPLETE_REPORTING: one row, null when every job
   * completed, else the ids of those that did; with REPORTING, their queue), then, if the lane arm left some
   * out, one more by id for those: a lane job written as a row claim in the meantime (by a `getJob` elsewhere,
   * say) completes by id under the same token. Rare: this adapter sends the jobs it wrote so itself by id.
   */
  async function completion(
    op: string,
    text: string,
    ns: string,
    items: Completion[],
    results: boolean,
  ): Promise<{ completed: (id: string) => boolean; queue: string | null }> {
    const run = async (batch: Completion[], lane: boolean) => {
      const { params, laneIds } = completionInput(batch, results, lane)
      const [r] = await rows(op, text, [ns, ...params])
      return { ids: r![0] as string[] | null, queue: (r![1] as string | null | undefined) ?? null, laneIds }
    }
    const first = await run(items, true)
    let queue = first.queue
    if (first.ids === null) return { completed: () => true, queue }
    const done = new Set(first.ids)
    const missed = new Set(first.laneIds.filter((id) => !done.has(id)))
    if (missed.size > 0) {
      const again = await run(
        items.filter((it) => missed.has(it.id)),
        false,
      )
      for (const id of again.ids ?? missed) done.add(id)
      queue ??= again.queue
    }
    return { completed: (id) => done.has(id), queue }
  }

  // completeAndClaim: the same group commit, per (ns, queue, worker, lease, remove): one statement completes
  // (or, removing, deletes) the burst and claims the freed slots' next jobs, handed out to the completed
  // callers in delivery order.
  const finisher = new Batcher<
    {
      ns: string
      /** The completed job's queue, as the engine passed it (null: read from the row). */
      queue: string | null
      remove: boolean
      want: number
      next: ClaimRequest
    } & Completion,
    { completed: boolean; jobs: JobRecord[] } | Error
  >(
    (_key, all) =>
      byUniqueId(all, (unique) =>
        storableOnly(unique, async (items) => {
          const { ns, queue, remove, next } = items[0]!
          // The completions, and the queue of the completed jobs; the successors are then claimed as any claim
          // (laneClaim: the claim routine, which takes the claim lane's lock first), one round trip more.
          const text = remove ? jq.COMPLETE_REPORTING_REMOVE : jq.COMPLETE_REPORTING
          const finished = await completion('completeAndClaim', text, ns, items, !remove)
          const done = { completed: finished.completed, queue: finished.queue ?? queue }
          const want = items.reduce((sum, it) => sum + (done.completed(it.id) ? it.want : 0), 0)
          let jobs: JobRecord[] = []
          if (want > 0 && done.queue !== null && !closed) {
            const prefix = tokenPrefix()
            const params = [
              ns,
              done.queue,
              want,
              next.workerId,
              next.leaseMs,
              next.guaranteed ?? null,
              prefix,
              // No park retired, none left (the consumer is busy).
              null,
              false,
              null,
              null,
            ]
            try {
              const got = await laneClaim(params)
              jobs = toClaimedJobs(got, { queue: done.queue, workerId: next.workerId, tokenPrefix: prefix })
            } catch (error) {
              // The completions stand; the successors it may have claimed are given back (see giveBackClaim).
              giveBackClaim(ns, done.queue, prefix, next.leaseMs, error)
            }
          }
          return items.map((it) => {
            const completed = done.completed(it.id)
            return { completed, jobs: completed ? jobs.splice(0, it.want) : [] }
          })
        }),
      ),
    200,
    2,
  )

  async function getJob(ns: string, id: string, db: Db = sql): Promise<JobRecord | null> {
    if (db === sql) await rows('getJob', jq.MATERIALIZE_IDS, [ns, JSON.stringify([id])])
    const [r] = await rows('getJob', sq.GET, [ns, id], db)
    return r ? toJob(r) : null
  }

  // A claim: one call of the claim routine (CLAIM_ROUTINE: the lane's lock, then CLAIM on a snapshot taken
  // after it), on the adapter's own claim clients, or on a caller's client (`{ sql }`) as it is.
  const claimCall = `select * from ${claimRoutine(schema).qualified}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
  async function laneClaim(params: unknown[]): Promise<Row[]> {
    if (claimClients.length === 0) return rows('claim', claimCall, params)
    let k = 0
    for (let i = 1; i < claimsOn.length; i++) if (claimsOn[i]! < claimsOn[k]!) k = i
    claimsOn[k]!++
    try {
      return await rows('claim', claimCall, params, claimClients[k]!, claimSockets)
    } finally {
      claimsOn[k]!--
    }
  }

  // A write by a job's worker other than its completion: a lane job (token `<prefix>L<ord>`) is written as a
  // row claim first, so the statement, written for row claims, finds it active under the same token.
  // Once per token: after MATERIALIZE the job is no longer in the lane under that token (written, or settled,
  // recovered, cancelled by others), and never returns to it, so a heartbeat pays one statement, not two.
  // Tokens leave the set when their run settles; a run that lost its lease leaves one behind, hence the bound.
  async function materialize(op: string, ns: string, id: string, token: string): Promise<void> {
    if (token.charCodeAt(LANE_PREFIX) !== 76 /* L */ || materializedTokens.has(token)) return
    await rows(op, jq.MATERIALIZE, [ns, id, token])
    if (materializedTokens.size >= 10_000) materializedTokens.clear()
    materializedTokens.add(token)
  }
  const materializedTokens = new Set<string>()

  // Cancel and remove of one job: its lane's lock held shared, so no lane claim hands the job out while the
  // statement decides, and a lane job the lane already handed out written as the row claim it is.
  async function laneShared(op: string, ns: string, id: string, text: string): Promise<Row[]> {
    try {
      return await tracked(() =>
        sql.begin(async (tx) => {
          const [q] = await tx.unsafe(sq.QUEUE_OF, [ns, id] as never, { prepare }).values()
          if (q) {
            await tx.unsafe(sq.LANE_SHARED, [ns, q[0]] as never, { prepare })
            await tx.unsafe(jq.MATERIALIZE_IDS, [ns, JSON.stringify([id])] as never)
          }
          return (await tx.unsafe(text, [ns, id] as never).values()) as unknown as Row[]
        }),
      )
    } catch (err) {
      throw new AdapterError(`PostgreSQL ${op} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** A statement failed on a unique constraint (SQLSTATE 23505), e.g. ADD_FRESH meeting an existing id. */
  const uniqueViolation = (error: unknown) =>
    (error as { cause?: { code?: unknown } }).cause?.code === '23505'

  async function addMany(ns: string, jobs: NewJob[], db: Db, depth = 0): Promise<AddResult[]> {
    if (jobs.length === 0) return []
    const D = ADD_DEFAULTS
    const fields = (j: NewJob) => ({
      id: j.id,
      queue: j.queue,
      data: (j.data ?? null) as unknown,
      delayMs: Math.min(Math.max(0, j.delayMs ?? D.delayMs), MAX_DELAY_MS),
      priority: j.priority ?? D.priority,
      lifo: j.lifo ?? D.lifo,
      // The attempts counter is an int4 and never passes MAX_INT4: a larger bound (retrying "forever") is this one.
      maxAttempts: Math.min(j.maxAttempts ?? D.maxAttempts, MAX_INT4),
      guaranteed: j.guaranteed ?? D.guaranteed,
      behavior: j.disabledBehavior ?? D.behavior,
    })
    // A job of ADD's input: id, queue, data, and the options that differ from ADD_DEFAULTS.
    const wire = (f: ReturnType<typeof fields>) => {
      const w: Record<string, unknown> = { id: f.id, queue: f.queue, data: f.data }
      for (const k of DEFAULTED) if (f[k] !== D[k]) w[k] = f[k]
      return w
    }
    // What the statement stores, in the form the records carry: the data as JSON gives it back (a Date as its
    // ISO string, undefined properties dropped), parsed from the very text that is sent.
    let sent: ReturnType<typeof fields>[]
    let got: Row[]
    // Sent as ADD_FRESH, and answered by it: every job it did not list was either not inserted (a disabled
    // queue's skip or reject) or inserted under a delay its reply rounded otherwise (see perJobRows).
    let fresh = false
    if (jobs.length === 1) {
      const f = fields(jobs[0]!)
      const data = JSON.stringify(f.data)
      sent = [{ ...f, data: JSON.parse(data) }]
      got = await rows(
        'add',
        jq.ADD_ONE,
        [
          ns,
          f.id,
          f.queue,
          data,
          f.delayMs,
          f.priority,
          f.lifo,
          f.maxAttempts,
          f.guaranteed,
          f.behavior,
          db !== sql,
        ],
        db,
      )
    } else {
      sent = jobs.map(fields)
      const input = JSON.stringify(sent.map(wire))
      const stored = JSON.parse(input) as { data: unknown }[]
      sent.forEach((f, i) => {
        f.data = stored[i]!.data
      })
      const params = [ns, input, JSON.stringify([...new Set(jobs.map((j) => j.queue))]), db !== sql]
      // Ids the runtime made are new unless this very add is sent again: no duplicate check, and should one
      // exist after all, the statement fails whole (changing nothing) and ADD answers it. Not inside the
      // caller's transaction, which that error would abort.
      fresh = db === sql && jobs.every((j) => j.idGenerated === true)
      try {
        got = await rows('add', fresh ? jq.ADD_FRESH : jq.ADD, params, db)
      } catch (error) {
        if (!fresh || !uniqueViolation(error)) throw error
        fresh = false
        got = await rows('add', jq.ADD, params, db)
      }
      if (fresh) got = perJobRows(got, sent)
    }
    const inserted = new Map<string, Row>()
    for (const r of got) inserted.set(r[0] as string, r)

    const results: AddResult[] = new Array(jobs.length)
    const missing: number[] = []
    jobs.forEach((job, i) => {
      const row = inserted.get(job.id)
      if (row) {
        inserted.delete(job.id) // a second occurrence of the id in this batch is a duplicate of the first
        const rec = toAddedJob(row, sent[i]!)
        results[i] = { outcome: rec.status === 'paused' ? 'held' : 'created', job: rec }
      } else missing.push(i)
    })
    if (missing.length === 0) return results

    // Not inserted: a duplicate (the conflicting row is committed by now, so this new snapshot sees
    // it), or skipped/rejected by a disabled queue. After ADD_FRESH a row found is this add's own: that
    // statement fails whole on an id that exists.
    const ids = JSON.stringify([...new Set(missing.map((i) => jobs[i]!.id))])
    const existing = new Map<string, JobRecord>()
    if (db === sql) await rows('add', jq.MATERIALIZE_IDS, [ns, ids])
    for (const r of await rows('add', sq.LOOKUP, [ns, ids], db)) existing.set(r[0] as string, toJob(r))
    const retry: number[] = []
    for (const i of missing) {
      const job = jobs[i]!
      const rec = existing.get(job.id)
      if (rec && fresh) results[i] = { outcome: rec.status === 'paused' ? 'held' : 'created', job: rec }
      else if (rec) results[i] = { outcome: 'duplicate', job: rec }
      else if (job.disabledBehavior === 'skip') results[i] = { outcome: 'skipped', job: null }
      else if (job.disabledBehavior === 'reject') results[i] = { outcome: 'rejected', job: null }
      else retry.push(i) // held job removed between the two statements: add it again
    }
    if (retry.length > 0 && depth < 3) {
      const again = await addMany(
        ns,
        retry.map((i) => jobs[i]!),
        db,
        depth + 1,
      )
      retry.forEach((i, k) => {
        results[i] = again[k]!
      })
    }
    return results
  }

  // Parked claims (migration 000005, docs/postgres.md "Parked claims"). A claim of a queue that no other
  // claim of this adapter is on, sent while the LISTEN connection holds its holder lock, leaves a park if it
  // finds nothing; an add then inserts the next job of the queue active under the park and sends it in its
  // NOTIFY, and the consumer's next claim returns it without a round trip. Each park takes one job. The next
  // claim through the database retires the park: the claim routine deletes it and gives its job back first
  // unless the engine got it (`taken`), so a push whose NOTIFY was lost or too large is claimed there.
  interface Park {
    /** `ns\u0000queue`, as the notifier keys its waiters. */
    key: string
    ns: string
    queue: string
    prefix: string
    workerId: string
    leaseMs: number
    guaranteed: boolean | undefined
    /** The pushed job, once its NOTIFY came with it; handed to the engine by the next claim. */
    records: JobRecord[] | null
    /** The engine has the pushed job: retiring the park must not give it back. */
    taken: boolean
  }
  const parkOf = new Map<string, Park>()
  const parkByPrefix = new Map<string, Park>()
  const claimsOfQueue = new Map<string, number>()
  // The last waitForWork timeout of each queue: a park outlives it by PARK_SLACK_MS, then adds skip it.
  const lastWaitMs = new Map<string, number>()
  notifier.onPush = (msg) => {
    const park = parkByPrefix.get(msg.k)
    if (!park || park.ns !== msg.n || park.queue !== msg.q) return false
    parkByPrefix.delete(msg.k) // a park takes one job
    try {
      if (msg.r) {
        park.records = toClaimedJobs([msg.r], {
          queue: park.queue,
          workerId: park.workerId,
          tokenPrefix: park.prefix,
        })
      }
    } catch {
      // Not a record this version reads: the next claim gives the job back and claims it.
    }
    return true
  }
  const sameClaim = (park: Park, request: ClaimRequest) =>
    park.workerId === request.workerId &&
    park.leaseMs === request.leaseMs &&
    park.guaranteed === request.guaranteed
  function forgetPark(park: Park): void {
    if (parkOf.get(park.key) === park) parkOf.delete(park.key)
    parkByPrefix.delete(park.prefix)
  }
  // Retire a park no claim will retire (the consumer stopped waiting, the adapter closes, a claim that
  // would have failed): UNPARK gives its job back unless the engine has it.
  const unparking = new Set<Promise<void>>()
  function unpark(park: Park): Promise<void> {
    forgetPark(park)
    const done: Promise<void> = rows('unpark', jq.UNPARK, [park.ns, park.prefix, !park.taken])
      .then(
        () => {},
        () => {
          // Unreachable: the park expires, and a job pushed into it is recovered when its lease expires.
        },
      )
      .finally(() => unparking.delete(done))
    unparking.add(done)
    return done
  }

  const broker: PostgresBroker = {
    async add(ns, job, opts) {
      const db = addTarget(sql, opts)
      assertStorableKeys([job])
      const [result] = await storableData([job], false, () => addMany(ns, [job], db))
      return result!
    },

    async addBulk(ns, jobs, opts) {
      const db = addTarget(sql, opts)
      assertStorableKeys(jobs)
      return storableData(jobs, true, () => addMany(ns, jobs, db))
    },

    async claim(ns, queue, request: ClaimRequest) {
      assertDurationMs(request.leaseMs, 'claim leaseMs', 'leaseMs')
      if (request.limit < 1) return []
      const key = `${ns}\u0000${queue}`
      const parked = parkOf.get(key)
      if (parked?.records && !parked.taken && sameClaim(parked, request)) {
        // The job an add pushed: claimed already, under this park's lease. The park is retired by the next
        // claim (it takes no other job). A claim of another consumer on the queue (two runtimes on one
        // adapter) retires it instead, which gives the job back and claims it under its own lease.
        parked.taken = true
        return parked.records
      }
      notifier.markClaim(key)
      const prefix = tokenPrefix()
      if (parked) forgetPark(parked)
      const inFlight = claimsOfQueue.get(key) ?? 0
      const park: Park | null =
        inFlight === 0 && notifier.canPark
          ? {
              key,
              ns,
              queue,
              prefix,
              workerId: request.workerId,
              leaseMs: request.leaseMs,
              guaranteed: request.guaranteed,
              records: null,
              taken: false,
            }
          : null
      if (park) {
        parkOf.set(key, park)
        parkByPrefix.set(prefix, park)
      }
      const params = [
        ns,
        queue,
        request.limit,
        request.workerId,
        request.leaseMs,
        request.guaranteed ?? null,
        prefix,
        parked?.prefix ?? null,
        parked?.taken ?? false,
        park ? (lastWaitMs.get(key) ?? request.leaseMs) + PARK_SLACK_MS : null,
        park ? notifier.holderKey : null,
      ]
      claimsOfQueue.set(key, inFlight + 1)
      let got: Row[]
      try {
        got = await laneClaim(params)
      } catch (error) {
        if (park) forgetPark(park)
        // Rolled back, the old park still stands: retire it apart (after a lost reply that finds nothing).
        if (parked) void unpark(parked)
        giveBackClaim(ns, queue, prefix, request.leaseMs, error)
        throw error
      } finally {
        claimsOfQueue.set(key, (claimsOfQueue.get(key) ?? 1) - 1)
      }
      // Jobs found: no park was left.
      if (park && got.length > 0) forgetPark(park)
      return toClaimedJobs(got, { queue, workerId: request.workerId, tokenPrefix: prefix })
    },

    async renew(ns, id, token, leaseMs) {
      assertDurationMs(leaseMs, 'renew leaseMs', 'leaseMs')
      await materialize('renew', ns, id, token)
      const [r] = await rows('renew', jq.RENEW, [ns, id, token, leaseMs])
      return r![0] as RenewOutcome
    },

    // A handler's text (a label, a log line) is stored as fail stores an error's: a NUL character or a lone
    // surrogate as U+FFFD. PostgreSQL refuses a NUL in any text, and the write would fail and be lost.
    async progress(ns, id, token, progress, label) {
      const text = typeof label === 'string' ? storableText(label) : null
      const detail = text ? `${progress}% ${text}` : `${progress}%`
      await materialize('progress', ns, id, token)
      return (await rows('progress', jq.PROGRESS, [ns, id, token, progress, text, detail])).length > 0
    },

    async log(ns, id, token, entry: TimelineEntry) {
      const text = (value: string | undefined) => (value === undefined ? null : storableText(value))
      const params = [ns, id, token, entry.event, text(entry.detail), text(entry.workerId)]
      await materialize('log', ns, id, token)
      return (await rows('log', jq.LOG, params)).length > 0
    },

    complete(ns, id, token, result, options?: CompleteOptions) {
      // A lane token this adapter wrote as a row claim goes by id (see `completion`).
      const byId = materializedTokens.delete(token)
      const remove = options?.remove === true
      // One statement per namespace and flag.
      // Never resolves with an Error: the Batcher rejects that caller with it (see storableOnly).
      return completer.push(`${remove ? 'r' : 'k'}\u0000${ns}`, {
        ns,
        remove,
        id,
        token,
        result: remove ? null : (result ?? null),
        byId,
      }) as Promise<boolean>
    },

    completeAndClaim(ns, id, token, result, next: NextClaim, options?: CompleteOptions) {
      const byId = materializedTokens.delete(token)
      // The engine says which queue the job is of; without it the job goes alone and the statement reads the
      // queue from its row.
      const { queue } = next
      const remove = options?.remove === true
      // One statement per queue, worker, lease and flag; a job of unknown queue goes alone (its own key).
      const key = [
        ns,
        queue ?? `?${id}`,
        next.workerId,
        next.leaseMs,
        next.guaranteed ?? '',
        remove ? 'r' : 'k',
      ].join('\u0000')
      if (queue !== undefined) notifier.markClaim(`${ns}\u0000${queue}`)
      return finisher.push(key, {
        ns,
        queue: queue ?? null,
        remove,
        id,
        token,
        result: remove ? null : (result ?? null),
        byId,
        want: Math.max(0, Math.floor(next.limit)),
        next,
      }) as Promise<{ completed: boolean; jobs: JobRecord[] }>
    },

    async fail(ns, id, token, request: FailRequest) {
      // What jsonb cannot store becomes U+FFFD (core's toJobError already sends it so; this is for any other
      // caller): an error PostgreSQL refused could never be recorded, and the job would stall and run again.
      const error = JSON.stringify({
        name: storableText(request.error.name),
        message: storableText(request.error.message),
        ...(request.error.stack === undefined ? {} : { stack: storableText(request.error.stack) }),
      })
      const delay =
        request.retryDelayMs === null ? null : Math.min(Math.max(0, request.retryDelayMs), MAX_DELAY_MS)
      await materialize('fail', ns, id, token)
      materializedTokens.delete(token)
      return (await rows('fail', jq.FAIL, [ns, id, token, error, delay])).length > 0
    },

    async release(ns, id, token) {
      await materialize('release', ns, id, token)
      materializedTokens.delete(token)
      return (await rows('release', jq.RELEASE, [ns, id, token])).length > 0
    },

    async recoverStalled(ns, queue, request: StallScanRequest) {
      if (request.limit < 1) return []
      await rows('recoverStalled', jq.EXPIRE_LEASES, [ns, queue])
      const got = await rows('recoverStalled', jq.RECOVER_STALLED, [
        ns,
        queue,
        Math.min(request.maxStalledCount, MAX_INT4),
        request.limit,
      ])
      return got.map(
        (r): StallOutcome => ({ job: toJob(r), action: r[2] === 'stalled' ? 'requeued' : 'failed' }),
      )
    },

    async cancel(ns, id) {
      const [r] = await laneShared('cancel', ns, id, jq.CANCEL)
      if (r) return { job: toJob(r), cancelled: true }
      const job = await getJob(ns, id)
      return job ? { job, cancelled: false } : null
    },

    async retry(ns, id) {
      const [r] = await rows('retry', jq.RETRY, [ns, id])
      return r ? toJob(r) : getJob(ns, id)
    },

    async pause(ns, queue) {
      await rows('pause', sq.SET_PAUSED, [ns, queue, true])
    },

    async resume(ns, queue) {
      await rows('resume', sq.SET_PAUSED, [ns, queue, false])
    },

    async isPaused(ns, queue) {
      const [r] = await rows('isPaused', sq.GET_FLAGS, [ns, queue])
      return r ? (r[0] as boolean) : false
    },

    async setDisabled(ns, queue, disabled) {
      try {
        await tracked(() =>
          sql.begin(async (tx) => {
            await tx.unsafe(sq.SET_DISABLED, [ns, queue, disabled] as never, { prepare })
            if (!disabled) await tx.unsafe(sq.RESUME_HELD, [ns, queue] as never, { prepare })
          }),
        )
      } catch (err) {
        throw new AdapterError(`PostgreSQL setDisabled failed: ${(err as Error).message}`, { cause: err })
      }
    },

    async isDisabled(ns, queue) {
      const [r] = await rows('isDisabled', sq.GET_FLAGS, [ns, queue])
      return r ? (r[1] as boolean) : false
    },

    waitForWork(ns, queue, timeoutMs, signal) {
      const key = `${ns}\u0000${queue}`
      lastWaitMs.set(key, timeoutMs)
      // A consumer that stops waiting for good (stop(), shutdown) claims no more: its park goes now.
      const park = parkOf.get(key)
      const stopped = () => {
        if (park && parkOf.get(key) === park) void unpark(park)
      }
      if (park) {
        if (signal.aborted) stopped()
        else signal.addEventListener('abort', stopped, { once: true })
      }
      const waited = notifier.wait(key, timeoutMs, signal, async () => {
        const [r] = await rows('waitForWork', sq.NEXT_DUE, [ns, queue])
        return r ? (r[0] as number) : null
      })
      return park ? waited.finally(() => signal.removeEventListener('abort', stopped)) : waited
    },

    async onCancel(ns, listener) {
      try {
        return await notifier.onCancel(ns, listener)
      } catch (err) {
        throw new AdapterError(`PostgreSQL LISTEN failed: ${(err as Error).message}`, { cause: err })
      }
    },
  }

  const storage: StorageAdapter = {
    getJob: (ns, id) => getJob(ns, id),

    async listJobs(ns, query: ListQuery): Promise<JobPage> {
      const limit = query.limit
      assertPageLimit(limit)
      const cursor = query.cursor ?? MAX_BIGINT
      // A seq is a bigint: 19 digits past its largest value would fail in the statement as a backend error.
      if (!/^\d{1,19}$/.test(cursor) || BigInt(cursor) > BigInt(MAX_BIGINT)) {
        throw new OqronConfigError('listJobs: cursor is not one this adapter returned.', { field: 'cursor' })
      }
      const statuses = query.status ? JSON.stringify([query.status]) : ALL_STATUSES
      await rows('listJobs', jq.MATERIALIZE_QUEUE, [ns, query.queue ?? null])
      const got =
        query.queue === undefined
          ? await rows('listJobs', sq.LIST_ALL, [ns, statuses, cursor, limit])
          : await rows('listJobs', sq.LIST_QUEUE, [ns, query.queue, statuses, cursor, limit])
      const last = got[got.length - 1]
      return {
        jobs: got.map(toJob),
        cursor: got.length === limit && last ? (last[JOB_WIDTH] as string) : null,
      }
    },

    async countJobs(ns, queue) {
      const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>
      await rows('countJobs', jq.MATERIALIZE_QUEUE, [ns, queue])
      for (const r of await rows('countJobs', sq.COUNT, [ns, queue]))
        counts[r[0] as JobStatus] = r[1] as number
      return counts
    },

    async removeJob(ns, id) {
      return (await laneShared('removeJob', ns, id, sq.REMOVE)).length > 0
    },

    async prune(ns, queue, request: PruneRequest) {
      if (request.limit < 1 || (request.keep === null && request.maxAgeMs === null)) return 0
      const got = await rows('prune', sq.PRUNE, [
        ns,
        queue,
        request.status,
        request.keep === null
          ? null
          : Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(request.keep))),
        request.maxAgeMs === null ? null : Math.max(0, request.maxAgeMs),
        request.limit,
      ])
      return got.length
    },

    async getState<T = unknown>(ns: string, key: string): Promise<T | null> {
      const [r] = await rows('getState', sq.STATE_GET, [ns, key])
      return r ? ((r[0] ?? null) as T | null) : null
    },

    async setState(ns, key, value) {
      if (value === null || value === undefined) await rows('setState', sq.STATE_DELETE, [ns, key])
      else await rows('setState', sq.STATE_SET, [ns, key, JSON.stringify(value)])
    },

    async compareAndSetState(ns, key, expected, next) {
      const absent = (v: unknown) => v === null || v === undefined
      if (absent(expected) && absent(next)) return (await storage.getState(ns, key)) === null
      if (absent(expected)) {
        return (
          (await rows('compareAndSetState', sq.STATE_CAS_INSERT, [ns, key, JSON.stringify(next)])).length > 0
        )
      }
      if (absent(next)) {
        return (
          (await rows('compareAndSetState', sq.STATE_CAS_DELETE, [ns, key, JSON.stringify(expected)]))
            .length > 0
        )
      }
      const params = [ns, key, JSON.stringify(expected), JSON.stringify(next)]
      return (await rows('compareAndSetState', sq.STATE_CAS_UPDATE, params)).length > 0
    },
  }

  const lock: LockAdapter = {
    async acquire(ns, key, owner, ttlMs) {
      assertDurationMs(ttlMs, 'Lock acquire ttlMs', 'ttlMs')
      const [r] = await rows('lock.acquire', sq.LOCK_ACQUIRE, [ns, key, owner, ttlMs])
      return r ? (r[0] as string) : null
    },
    async renew(ns, key, token, ttlMs) {
      assertDurationMs(ttlMs, 'Lock renew ttlMs', 'ttlMs')
      return (await rows('lock.renew', sq.LOCK_RENEW, [ns, key, token, ttlMs])).length > 0
    },
    async release(ns, key, token) {
      return (await rows('lock.release', sq.LOCK_RELEASE, [ns, key, token])).length > 0
    },
    async isOwner(ns, key, token) {
      return (await rows('lock.isOwner', sq.LOCK_IS_OWNER, [ns, key, token])).length > 0
    },
  }

  return {
    name: 'postgres',
    schema,
    sql,
    storage,
    broker,
    lock,
    async open() {
      if (shouldMigrate) await runMigrations(sql, schema)
      else await assertSchemaVersion(sql, schema)
    },
    listenerPid: () => notifier.listenerPid(),
    async close() {
      if (closed) return
      closed = true
      for (const timer of givingBack) clearTimeout(timer)
      givingBack.clear()
      for (const park of [...parkOf.values()]) void unpark(park)
      await Promise.all(unparking)
      await notifier.close()
      if (!owned) return
      // Wait (at most 5 s) for this adapter's statements still running, then end both pools without a grace
      // period. Not `end({ timeout: 5 })` alone: a connection whose statement was cut by a dropped link (a
      // restart, a failover) keeps that statement as its current query in postgres.js, and `end()` then
      // waits out the whole timeout for it — every shutdown after a database blip took 5 s longer.
      if (running > 0) {
        await new Promise<void>((resolve) => {
          settled = resolve
          setTimeout(resolve, 5_000).unref()
        })
      }
      probe?.close()
      await Promise.all([sql.end({ timeout: 0 }), ...claimClients.map((c) => c.end({ timeout: 0 }))])
    },
  }
}

/**
 * Add a job inside your own postgres.js transaction: it exists if and only if `tx` commits.
 * The same as `adapters.broker.add(ns, job, { tx })`.
 */
export function enqueueInTransaction(
  tx: TransactionSql,
  adapters: PostgresAdapters,
  ns: string,
  job: NewJob,
): Promise<AddResult> {
  return adapters.broker.add(ns, job, { tx })
}
