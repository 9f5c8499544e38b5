import { randomUUID } from 'node:crypto'
import {
  AdapterError,
  type AddOptions,
  type AddResult,
  assertDurationMs,
  Batcher,
  type BrokerAdapter,
  type ClaimRequest,
  type CompleteOptions,
  type DisabledBehavior,
  type FailRequest,
  type JobRecord,
  type NewJob,
  OqronConfigError,
  type RenewOutcome,
  type StallOutcome,
  type StallScanRequest,
  type TimelineEntry,
} from '@oqronkit/core'
import { type Backend, guard, indexedQueue } from './backend.js'
import { decodeClaimed, decodeJob, type RawJob, toJson } from './codec.js'
import { MAX_TIMER_MS, within } from './hub.js'
import { callId } from './keys.js'

/** Priorities share a 53-bit sort score with the order inside a priority, so they are bounded. */
export const MAX_PRIORITY = 2 ** 20

/** Most jobs one claim call takes. */
const MAX_CLAIM = 1_000

/** Most completions one complete-and-claim-4.lua call settles. */
const MAX_SETTLE_BATCH = 200

/**
 * Complete-and-claim calls per queue in flight at once: an idle burst is cut in three, so Redis always has a
 * part to run while the worker runs another's jobs (measured against two: a few percent more throughput).
 */
const SETTLE_CALLS_IN_FLIGHT = 3

/** One completion waiting for its group commit; `next` is absent for a plain `complete` (want 0). */
interface Settle {
  ns: string
  queue: string
  id: string
  token: string
  json: string
  want: number
  remove: boolean
  next?: ClaimRequest
}

const BEHAVIORS: ReadonlySet<DisabledBehavior> = new Set(['hold', 'skip', 'reject'])

interface PreparedJob {
  job: NewJob
  dataJson: string
  delayMs: number
}

function prepare(job: NewJob): PreparedJob {
  if (typeof job.id !== 'string' || job.id === '') {
    throw new OqronConfigError('Job id must be a non-empty string.', { field: 'id' })
  }
  if (typeof job.queue !== 'string' || job.queue === '') {
    throw new OqronConfigError(`Job ${job.id}: queue must be a non-empty string.`, { field: 'queue' })
  }
  // An id index entry is the queue name, followed on Redis Cluster by a newline and a time (indexedQueue):
  // a queue name with a newline would be read back as another queue, and its jobs never found by id.
  if (job.queue.includes('\n')) {
    throw new OqronConfigError(`Job ${job.id}: queue name must not contain a newline.`, { field: 'queue' })
  }
  if (!Number.isInteger(job.priority) || Math.abs(job.priority) > MAX_PRIORITY) {
    throw new OqronConfigError(
      `Job ${job.id}: priority must be an integer between -${MAX_PRIORITY} and ${MAX_PRIORITY}, got ${job.priority}.`,
      { field: 'priority' },
    )
  }
  const delay = job.delayMs ?? 0
  if (!Number.isFinite(delay) || delay < 0) {
    throw new OqronConfigError(`Job ${job.id}: delayMs must be a finite number >= 0, got ${delay}.`, {
      field: 'delayMs',
    })
  }
  if (!Number.isInteger(job.maxAttempts) || job.maxAttempts < 1) {
    throw new OqronConfigError(
      `Job ${job.id}: maxAttempts must be an integer >= 1, got ${job.maxAttempts}.`,
      {
        field: 'maxAttempts',
      },
    )
  }
  if (!BEHAVIORS.has(job.disabledBehavior)) {
    throw new OqronConfigError(
      `Job ${job.id}: disabledBehavior must be 'hold', 'skip' or 'reject', got ${String(job.disabledBehavior)}.`,
      { field: 'disabledBehavior' },
    )
  }
  return { job, dataJson: toJson(job.data), delayMs: Math.ceil(delay) }
}

/** The record `add` stored, built from what the script returned instead of reading it back. */
function storedRecord(p: PreparedJob, held: boolean, createdAt: number): JobRecord {
  const { job, delayMs } = p
  const status = held ? 'paused' : delayMs > 0 ? 'delayed' : 'waiting'
  const timeline: TimelineEntry[] = [{ at: createdAt, event: 'added' }]
  if (held) timeline.push({ at: createdAt, event: 'held', detail: 'module disabled' })
  return {
    id: job.id,
    queue: job.queue,
    status,
    data: JSON.parse(p.dataJson),
    result: null,
    error: null,
    attempts: 0,
    maxAttempts: job.maxAttempts,
    stalledCount: 0,
    progress: 0,
    progressLabel: null,
    priority: job.priority,
    lifo: job.lifo,
    guaranteed: job.guaranteed,
    workerId: null,
    token: null,
    lockExpiresAt: null,
    createdAt,
    startedAt: null,
    finishedAt: null,
    runAt: createdAt + delayMs,
    timeline,
  }
}

/**
 * Tokens end with `:<queue>`. Fenced calls carry an id and a token but no queue; reading the queue from the
 * token lets each of them be one script call on the queue's slot, with no index lookup on the hot path.
 * A token naming the wrong queue just fails the fence, as any stale token does.
 */
function queueOfToken(token: string): string | null {
  const at = typeof token === 'string' ? token.indexOf(':') : -1
  return at < 0 ? null : token.slice(at + 1)
}

function checkClaim(limit: number, leaseMs: number): void {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new OqronConfigError(`claim limit must be an integer >= 0, got ${limit}.`, { field: 'limit' })
  }
  assertDurationMs(leaseMs, 'claim leaseMs', 'leaseMs')
}

/**
 * How old an id index entry without its job must be before another add takes the id over (Redis Cluster,
 * see index-set-1.lua): the time an add may take between claiming the id and storing the job. A younger one
 * is an add in progress; an add of the same id to another queue waits for it.
 */
const ID_GRACE_MS = 5_000

type AddReply =
  | [outcome: 'created' | 'held', createdAt: number, ord: number]
  | [outcome: 'duplicate', job: RawJob]
  | [outcome: 'skipped' | 'rejected']
  | [outcome: 'other', queue: string]

export class RedisBroker implements BrokerAdapter {
  private readonly registeredQueues = new Set<string>()

  constructor(
    private readonly b: Backend,
    private readonly addBatchSize: number,
  ) {}

  async add(ns: string, job: NewJob, options?: AddOptions): Promise<AddResult> {
    const [result] = await this.addBulk(ns, [job], options)
    return result!
  }

  async addBulk(ns: string, jobs: NewJob[], options?: AddOptions): Promise<AddResult[]> {
    if (options?.tx !== undefined) {
      throw new OqronConfigError(
        'The Redis adapter cannot enqueue inside a database transaction (tx): Redis is not part of it. Add the job after the commit, or use @oqronkit/postgres for transactional enqueue.',
        { field: 'tx' },
      )
    }
    const prepared = jobs.map(prepare)
    if (prepared.length === 0) return []
    return guard('add', async () => {
      await this.registerQueues(ns, prepared)
      const results: AddResult[] = new Array(prepared.length)
      // An id repeated within one call goes to a later round, so each round stores distinct ids and the
      // repeat sees the first as a duplicate, as if added one after the other.
      let pending = prepared.map((_, i) => i)
      while (pending.length > 0) {
        const seen = new Set<string>()
        const round: number[] = []
        const later: number[] = []
        for (const i of pending) {
          const id = prepared[i]!.job.id
          if (seen.has(id)) later.push(i)
          else {
            seen.add(id)
            round.push(i)
          }
        }
        await this.addRound(ns, prepared, round, results)
        pending = later
      }
      return results
    })
  }

  private async registerQueues(ns: string, jobs: PreparedJob[]): Promise<void> {
    const fresh = new Set<string>()
    for (const { job } of jobs) {
      if (!this.registeredQueues.has(`${ns}\u0000${job.queue}`)) fresh.add(job.queue)
    }
    if (fresh.size === 0) return
    await this.b.client.sadd(this.b.ns(ns).queues, ...fresh)
    for (const queue of fresh) this.registeredQueues.add(`${ns}\u0000${queue}`)
  }

  private async addRound(
    ns: string,
    jobs: PreparedJob[],
    round: number[],
    results: AddResult[],
  ): Promise<void> {
    let toStore = round
    if (this.b.clusterMode) {
      // On Cluster the index key lives in another slot than the queue: claim the id in it first, so a
      // stored job is always findable by id. A crash in between leaves an entry without a job, which
      // reads as "no such job" and is taken over by the next add.
      const decided = await Promise.all(round.map((i) => this.claimId(ns, jobs[i]!.job)))
      toStore = round.filter((i, n) => {
        const duplicate = decided[n]
        if (duplicate) results[i] = duplicate
        return !duplicate
      })
    }
    const byQueue = new Map<string, number[]>()
    for (const i of toStore) {
      const queue = jobs[i]!.job.queue
      const list = byQueue.get(queue)
      if (list) list.push(i)
      else byQueue.set(queue, [i])
    }
    const calls: Promise<void>[] = []
    for (const [queue, indexes] of byQueue) {
      for (let start = 0; start < indexes.length; start += this.addBatchSize) {
        calls.push(this.store(ns, queue, jobs, indexes.slice(start, start + this.addBatchSize), results))
      }
    }
    await Promise.all(calls)
  }

  /** Runs the add script for jobs of one queue and records each outcome. */
  private async store(
    ns: string,
    queue: string,
    jobs: PreparedJob[],
    indexes: number[],
    results: AddResult[],
    attempt = 0,
  ): Promise<void> {
    const k = this.b.queue(ns, queue)
    const idIndex = this.b.clusterMode ? '' : this.b.ns(ns).idIndex
    const args: (string | number)[] = [k.base, k.wake, queue, idIndex, indexes.length]
    for (const i of indexes) {
      const { job, dataJson, delayMs } = jobs[i]!
      args.push(
        job.id,
        dataJson,
        delayMs,
        job.priority,
        job.lifo ? 1 : 0,
        job.maxAttempts,
        job.guaranteed ? 1 : 0,
        job.disabledBehavior,
      )
    }
    // The call's id: a re-send of this very call (see add-4.lua) answers what its first run stored.
    args.push(callId())
    const replies = (await this.b.run('add', [k.meta, k.wait, k.delayed, k.all], args)) as AddReply[]
    const again: number[] = []
    const dropped: string[] = []
    await Promise.all(
      replies.map(async (reply, n) => {
        const i = indexes[n]!
        switch (reply[0]) {
          case 'created':
          case 'held':
            results[i] = {
              outcome: reply[0],
              job: storedRecord(jobs[i]!, reply[0] === 'held', Number(reply[1])),
            }
            return
          case 'duplicate':
            results[i] = { outcome: 'duplicate', job: decodeJob(reply[1])! }
            return
          case 'skipped':
          case 'rejected':
            results[i] = { outcome: reply[0], job: null }
            if (this.b.clusterMode) dropped.push(jobs[i]!.job.id)
            return
          case 'other': {
            // The id belongs to a job of another queue, or to a stale index entry.
            const duplicate = await this.claimId(ns, jobs[i]!.job, reply[1])
            if (duplicate) results[i] = duplicate
            else again.push(i)
            return
          }
        }
      }),
    )
    if (dropped.length > 0) {
      const ids = this.b.ns(ns).idIndex
      await Promise.all(dropped.map((id) => this.b.run('indexDel', [ids + id], [queue])))
    }
    if (again.length > 0) {
      if (attempt >= 5) {
        throw new AdapterError(`Could not settle the id index for ${again.length} job(s): it keeps changing.`)
      }
      await this.store(ns, queue, jobs, again, results, attempt + 1)
    }
  }

  /**
   * Points the id index at `job.queue`, unless it names another queue that holds a job with this id: then
   * that job is the duplicate. `stale` is an index value already seen to name another queue.
   */
  private async claimId(ns: string, job: NewJob, stale?: string): Promise<AddResult | null> {
    const key = this.b.ns(ns).idIndex + job.id
    let expected = ''
    let current = stale
    let changes = 0
    const deadline = Date.now() + 2 * ID_GRACE_MS
    for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
      if (current === undefined) {
        const [entry, age] = (await this.b.run('indexSet', [key], [job.queue, expected, ID_GRACE_MS])) as [
          string,
          number?,
        ]
        if (entry === '' || indexedQueue(entry) === job.queue) return null
        if (entry === expected) {
          // Too young to be a crash's leftover: an add of this id to that queue is storing its job. Wait for
          // it (it is then the duplicate) or for the entry to come of age.
          if (Date.now() > deadline) {
            throw new AdapterError(
              `Job ${job.id} is being added to queue ${indexedQueue(entry)}: its add did not finish.`,
            )
          }
          await new Promise((resolve) =>
            setTimeout(resolve, Math.min(wait, Math.max(1, ID_GRACE_MS - (age ?? 0)))),
          )
        } else if (++changes > 5) {
          throw new AdapterError(`Could not settle the id index entry of job ${job.id}: it keeps changing.`)
        }
        current = entry
      }
      const existing = await this.readJob(ns, indexedQueue(current), job.id)
      if (existing) return { outcome: 'duplicate', job: existing }
      expected = current
      current = undefined
    }
  }

  private async readJob(ns: string, queue: string, id: string): Promise<JobRecord | null> {
    const k = this.b.queue(ns, queue)
    return decodeJob((await this.b.run('get', [k.job(id), k.timeline(id)], [])) as RawJob)
  }

  async claim(ns: string, queue: string, request: ClaimRequest): Promise<JobRecord[]> {
    const { workerId, limit, leaseMs, guaranteed } = request
    checkClaim(limit, leaseMs)
    if (limit === 0) return []
    const k = this.b.queue(ns, queue)
    // The script unpacks two values per job onto Lua's stack; a larger request is served in part.
    const batch = Math.min(limit, MAX_CLAIM)
    return guard('claim', async () => {
      const raw = (await this.b.run(
        'claim',
        [k.meta, k.wait, k.delayed, k.active],
        [
          k.base,
          workerId,
          batch,
          Math.ceil(leaseMs),
          `${randomUUID()}.`,
          `:${queue}`,
          guaranteed === undefined ? '' : guaranteed ? 1 : 0,
        ],
      )) as string[]
      return raw.map(decodeClaimed)
    })
  }

  async renew(ns: string, id: string, token: string, leaseMs: number): Promise<RenewOutcome> {
    // Checked here: the script writes the hash before the active set, and Redis refuses NaN only at the
    // second write, which left the lease field unreadable and the live holder fenced out.
    assertDurationMs(leaseMs, 'renew leaseMs', 'leaseMs')
    const queue = queueOfToken(token)
    if (queue === null) return 'lost'
    const k = this.b.queue(ns, queue)
    return guard(
      'renew',
      async () =>
        (await this.b.run('renew', [k.job(id), k.active], [id, token, Math.ceil(leaseMs)])) as RenewOutcome,
    )
  }

  async progress(
    ns: string,
    id: string,
    token: string,
    progress: number,
    label: string | null,
  ): Promise<boolean> {
    if (!Number.isFinite(progress) || progress < 0 || progress > 100) {
      throw new OqronConfigError(`progress must be a number from 0 to 100, got ${progress}.`, {
        field: 'progress',
      })
    }
    const queue = queueOfToken(token)
    if (queue === null) return false
    const k = this.b.queue(ns, queue)
    return guard('progress', async () => {
      // The call's id: a re-send of this very call writes no second entry (see progress-2.lua).
      const args = [token, progress, label === null ? 0 : 1, label ?? '', k.base, callId()]
      return (await this.b.run('progress', [k.job(id), k.timeline(id)], args)) === 1
    })
  }

  async log(ns: string, id: string, token: string, entry: TimelineEntry): Promise<boolean> {
    const queue = queueOfToken(token)
    if (queue === null) return false
    const k = this.b.queue(ns, queue)
    return guard('log', async () => {
      // The call's id: a re-send of this very call writes no second entry (see log-2.lua).
      const args = [token, entry.event, entry.workerId ?? '', entry.detail ?? '', k.base, callId()]
      return (await this.b.run('log', [k.job(id), k.timeline(id)], args)) === 1
    })
  }

  async complete(
    ns: string,
    id: string,
    token: string,
    result: unknown,
    options?: CompleteOptions,
  ): Promise<boolean> {
    return (await this.settle('complete', ns, id, token, result, options)).completed
  }

  completeAndClaim(
    ns: string,
    id: string,
    token: string,
    result: unknown,
    next: ClaimRequest,
    options?: CompleteOptions,
  ): Promise<{ completed: boolean; jobs: JobRecord[] }> {
    checkClaim(next.limit, next.leaseMs)
    return this.settle('completeAndClaim', ns, id, token, result, options, next)
  }

  /** One completion into the group commit below; without `next` it claims nothing. */
  private async settle(
    op: string,
    ns: string,
    id: string,
    token: string,
    result: unknown,
    options: CompleteOptions | undefined,
    next?: ClaimRequest,
  ): Promise<{ completed: boolean; jobs: JobRecord[] }> {
    const queue = queueOfToken(token)
    if (queue === null) return { completed: false, jobs: [] }
    const remove = options?.remove === true
    const want = next ? Math.min(next.limit, MAX_CLAIM) : 0
    const item: Settle = { ns, queue, id, token, json: toJson(result), want, remove, next }
    // One batch per queue, removal and claim terms: the burst's claimed jobs all get the same lease.
    const terms = next ? `${next.workerId}\u0000${Math.ceil(next.leaseMs)}\u0000${next.guaranteed ?? ''}` : ''
    const key = `${ns}\u0000${queue}\u0000${remove ? 1 : 0}\u0000${terms}`
    return guard(op, () => this.settler.push(key, item))
  }

  /**
   * Group commit of completions: the `complete`/`completeAndClaim` calls of one tick (and those made while
   * calls for the same queue are in flight) go out as one complete-and-claim-4.lua call, each job
   * fenced on its own. The claimed jobs are handed out in claim order, `want` to each accepted completion.
   */
  private readonly settler = new Batcher<Settle, { completed: boolean; jobs: JobRecord[] }>(
    async (_key, items) => {
      const { ns, queue, next, remove } = items[0]!
      const k = this.b.queue(ns, queue)
      const idIndex = this.b.ns(ns).idIndex
      const args: (string | number)[] = [
        k.base,
        next?.workerId ?? '',
        Math.ceil(next?.leaseMs ?? 1),
        `${randomUUID()}.`,
        `:${queue}`,
        next?.guaranteed === undefined ? '' : next.guaranteed ? 1 : 0,
        remove ? 1 : 0,
        this.b.clusterMode ? '' : idIndex,
        queue,
        items.length,
      ]
      for (const it of items) args.push(it.id, it.token, it.json, it.want)
      const [flags, raw] = (await this.b.run(
        'completeAndClaim',
        [k.active, k.meta, k.wait, k.delayed],
        args,
      )) as [number[], string[]]
      if (remove && this.b.clusterMode) {
        // The index lives in other slots on Cluster: drop the removed jobs' entries after the script.
        const removed = items.filter((_, i) => flags[i] === 1)
        // A failure here leaves entries without a job, which read as "no such job" and are taken over by
        // the next add of the id (see addRound): the completions stand.
        await Promise.all(
          removed.map((it) => this.b.run('indexDel', [idIndex + it.id], [queue]).catch(() => 0)),
        )
      }
      let at = 0
      return items.map((it, i) => {
        if (flags[i] !== 1) return { completed: false, jobs: [] }
        const jobs = raw.slice(at, at + it.want).map(decodeClaimed)
        at += jobs.length
        return { completed: true, jobs }
      })
    },
    MAX_SETTLE_BATCH,
    SETTLE_CALLS_IN_FLIGHT,
  )

  async fail(ns: string, id: string, token: string, request: FailRequest): Promise<boolean> {
    const queue = queueOfToken(token)
    if (queue === null) return false
    const { error, retryDelayMs } = request
    if (retryDelayMs !== null && (!Number.isFinite(retryDelayMs) || retryDelayMs < 0)) {
      throw new OqronConfigError(`retryDelayMs must be null or a number >= 0, got ${retryDelayMs}.`, {
        field: 'retryDelayMs',
      })
    }
    const k = this.b.queue(ns, queue)
    const stored = {
      name: error.name,
      message: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
    }
    return guard('fail', async () => {
      const reply = await this.b.run(
        'fail',
        [k.job(id), k.timeline(id), k.active, k.wait, k.delayed, k.meta],
        [
          k.base,
          id,
          token,
          JSON.stringify(stored),
          error.message,
          retryDelayMs === null ? '' : Math.ceil(retryDelayMs),
          k.wake,
        ],
      )
      return reply === 1
    })
  }

  async release(ns: string, id: string, token: string): Promise<boolean> {
    const queue = queueOfToken(token)
    if (queue === null) return false
    const k = this.b.queue(ns, queue)
    return guard(
      'release',
      async () =>
        (await this.b.run(
          'release',
          [k.job(id), k.timeline(id), k.active, k.wait, k.meta],
          [k.base, id, token, k.wake],
        )) === 1,
    )
  }

  async recoverStalled(ns: string, queue: string, request: StallScanRequest): Promise<StallOutcome[]> {
    // Checked here: the script takes each expired job out of the active set before it compares the job's
    // stalledCount with maxStalledCount, so a missing one failed the script halfway and left the job active
    // under a dead lease that no later scan finds; a negative LIMIT is no limit to Redis.
    for (const field of ['maxStalledCount', 'limit'] as const) {
      const value = request[field]
      if (!Number.isInteger(value) || value < 0) {
        throw new OqronConfigError(`recoverStalled ${field} must be an integer >= 0, got ${value}.`, {
          field,
        })
      }
    }
    const k = this.b.queue(ns, queue)
    return guard('recoverStalled', async () => {
      const raw = (await this.b.run(
        'recoverStalled',
        [k.meta, k.wait, k.active],
        [k.base, request.maxStalledCount, request.limit, k.wake],
      )) as [StallOutcome['action'], RawJob][]
      return raw.map(([action, job]) => ({ action, job: decodeJob(job)! }))
    })
  }

  async cancel(ns: string, id: string): Promise<{ job: JobRecord; cancelled: boolean } | null> {
    return guard('cancel', async () => {
      const queue = await this.b.queueOf(ns, id)
      if (queue === null) return null
      const k = this.b.queue(ns, queue)
      const reply = (await this.b.run(
        'cancel',
        [k.job(id), k.timeline(id), k.wait, k.delayed, k.active],
        // The call's id: a re-send of this very call answers that it cancelled (see cancel-5.lua).
        [k.base, id, this.b.ns(ns).cancel, callId()],
      )) as [] | [number, RawJob]
      if (reply.length === 0) return null
      return { cancelled: reply[0] === 1, job: decodeJob(reply[1])! }
    })
  }

  async retry(ns: string, id: string): Promise<JobRecord | null> {
    return guard('retry', async () => {
      const queue = await this.b.queueOf(ns, id)
      if (queue === null) return null
      const k = this.b.queue(ns, queue)
      const reply = (await this.b.run(
        'retry',
        [k.job(id), k.timeline(id), k.wait, k.meta],
        [k.base, id, k.wake],
      )) as [] | [number, RawJob]
      return reply.length === 0 ? null : decodeJob(reply[1])
    })
  }

  async pause(ns: string, queue: string): Promise<void> {
    const k = this.b.queue(ns, queue)
    await guard('pause', () => this.b.run('pause', [k.meta], [1, k.wake]))
  }

  async resume(ns: string, queue: string): Promise<void> {
    const k = this.b.queue(ns, queue)
    await guard('resume', () => this.b.run('pause', [k.meta], [0, k.wake]))
  }

  async isPaused(ns: string, queue: string): Promise<boolean> {
    const k = this.b.queue(ns, queue)
    return guard('isPaused', async () => (await this.b.client.hget(k.meta, 'paused')) === '1')
  }

  async setDisabled(ns: string, queue: string, disabled: boolean): Promise<void> {
    const k = this.b.queue(ns, queue)
    await guard('setDisabled', () =>
      this.b.run(
        'setDisabled',
        [k.meta, k.wait, k.delayed, k.status('paused')],
        [k.base, disabled ? 1 : 0, k.wake],
      ),
    )
  }

  async isDisabled(ns: string, queue: string): Promise<boolean> {
    const k = this.b.queue(ns, queue)
    return guard('isDisabled', async () => (await this.b.client.hget(k.meta, 'disabled')) === '1')
  }

  /**
   * Waits on the queue's pub/sub channel (its own connection). A worker only waits after finding the queue
   * empty, and the scripts publish when the wait set goes from empty to non-empty, on resume/enable, and when
   * a delayed job becomes the earliest; the timer is cut to the next due time. Lost messages (a reconnect)
   * become false wake-ups; if pub/sub is down the call still returns after `timeoutMs`. It never throws.
   */
  async waitForWork(ns: string, queue: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.b.closed) return
    const k = this.b.queue(ns, queue)
    const hub = this.b.wakeHub
    let subscribed = false
    try {
      // A new subscription may have missed a publish since the caller's last claim: return so it claims again.
      // A SUBSCRIBE that does not answer (a half-open connection) holds the wait no longer than the wait
      // itself would have lasted, nor past the caller's abort: the caller then claims again.
      const made = await within(hub.ensure(k.wake), timeoutMs, signal)
      if (made !== false) return
      subscribed = true
    } catch {
      if (this.b.closed) return
    }
    if (signal.aborted) return
    // Messages counted from before the peek: one that arrives while the peek is in flight is not lost.
    const seen = hub.count(k.wake)
    let waitMs = timeoutMs
    try {
      const [hasWork, dueInMs] = (await this.b.run('peek', [k.meta, k.wait, k.delayed], [])) as [
        number,
        number,
      ]
      if (hasWork === 1) return
      if (dueInMs >= 0) waitMs = Math.min(waitMs, dueInMs + 1)
    } catch {
      // Redis unreachable: wait the full timeout, then the caller tries again.
    }
    if (signal.aborted || this.b.closed || hub.count(k.wake) !== seen) return
    await new Promise<void>((resolve) => {
      let stopListening = () => {}
      const done = () => {
        clearTimeout(timer)
        stopListening()
        signal.removeEventListener('abort', done)
        this.b.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, Math.min(Math.max(0, waitMs), MAX_TIMER_MS))
      timer.unref()
      if (subscribed) {
        try {
          stopListening = hub.listen(k.wake, done)
        } catch {
          // unsubscribed meanwhile (closing): the timer or close() ends the wait
        }
      }
      signal.addEventListener('abort', done, { once: true })
      this.b.waiters.add(done)
    })
  }

  async onCancel(ns: string, listener: (jobId: string) => void): Promise<() => Promise<void>> {
    const channel = this.b.ns(ns).cancel
    const hub = this.b.cancelHub
    // '' is the hub's reconnect signal, not a job id (ids are never empty).
    const onMessage = (jobId: string) => {
      if (jobId !== '') listener(jobId)
    }
    let stop: () => void
    for (;;) {
      await guard('onCancel', () => hub.ensure(channel))
      // The last other listener of the channel may have unsubscribed while ensure() was settling, which drops
      // the channel: subscribe again (after close(), ensure() throws).
      try {
        stop = hub.listen(channel, onMessage)
        break
      } catch {}
    }
    return async () => {
      stop()
      await hub.release(channel)
    }
  }
}
