import {
  assertPageLimit,
  JOB_STATUSES,
  type JobPage,
  type JobRecord,
  type JobStatus,
  type ListQuery,
  OqronConfigError,
  type PruneRequest,
  type StorageAdapter,
} from '@oqronkit/core'
import { type Backend, guard } from './backend.js'
import { type Cursor, canonicalJson, decodeCursor, decodeJob, encodeCursor, type RawJob } from './codec.js'
import { callId } from './keys.js'

interface Entry {
  ord: number
  id: string
  queue: string
}

/** Newest first: higher ord first, then higher id (ids are unique in a namespace). */
function newerFirst(a: Entry, b: Entry): number {
  if (a.ord !== b.ord) return b.ord - a.ord
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

function before(entry: Entry, cursor: Cursor): boolean {
  return entry.ord < cursor.ord || (entry.ord === cursor.ord && entry.id < cursor.id)
}

/**
 * Statuses with an `s:<status>` index (see includes/common.lua). The hot ones (waiting, active, delayed)
 * have none, so the add -> claim -> complete path writes no index entry for them.
 */
const INDEXED: ReadonlySet<JobStatus> = new Set(['paused', 'stalled', 'completed', 'failed', 'cancelled'])

/** Entries of `all` read per round while filtering it by an unindexed status. */
const SCAN_CHUNK = 500

/** Up to this size, the delivery set of an unindexed status is read whole instead of filtering `all`. */
const SMALL_SET = 10_000

export class RedisStorage implements StorageAdapter {
  constructor(private readonly b: Backend) {}

  async getJob(ns: string, id: string): Promise<JobRecord | null> {
    return guard('getJob', async () => {
      const queue = await this.b.queueOf(ns, id)
      return queue === null ? null : this.read(ns, queue, id)
    })
  }

  private async read(ns: string, queue: string, id: string): Promise<JobRecord | null> {
    const k = this.b.queue(ns, queue)
    return decodeJob((await this.b.run('get', [k.job(id), k.timeline(id)], [])) as RawJob)
  }

  /**
   * Each queue keeps a creation-ordered index (all jobs, and one per status) scored by `ord`: creation
   * time * 1024, strictly increasing within a queue. A page reads at most `limit + 1` entries below the
   * cursor from each queue's index and merges them, so new jobs (higher ord) never shift later pages.
   */
  async listJobs(ns: string, query: ListQuery): Promise<JobPage> {
    const { limit, status } = query
    assertPageLimit(limit)
    if (status !== undefined && !JOB_STATUSES.includes(status)) {
      throw new OqronConfigError(`listJobs status must be one of ${JOB_STATUSES.join(', ')}.`, {
        field: 'status',
      })
    }
    let cursor: Cursor | null = null
    if (query.cursor != null) {
      cursor = decodeCursor(query.cursor)
      if (!cursor) {
        throw new OqronConfigError('listJobs cursor is not one returned by listJobs.', { field: 'cursor' })
      }
    }
    return guard('listJobs', async () => {
      const queues =
        query.queue !== undefined ? [query.queue] : await this.b.client.smembers(this.b.ns(ns).queues)
      const perQueue = await Promise.all(
        queues.map(async (queue) => {
          const k = this.b.queue(ns, queue)
          if (status && !INDEXED.has(status)) return this.scan(ns, queue, status, cursor, limit + 1)
          const key = status ? k.status(status) : k.all
          const flat = cursor
            ? // + 2: the entry at the cursor itself (at most one per queue, ords are unique in a queue) is dropped
              await this.b.client.zrevrangebyscore(
                key,
                cursor.ord,
                '-inf',
                'WITHSCORES',
                'LIMIT',
                0,
                limit + 2,
              )
            : await this.b.client.zrevrange(key, 0, limit, 'WITHSCORES')
          const entries: Entry[] = []
          for (let i = 0; i + 1 < flat.length; i += 2) {
            const entry = { id: flat[i]!, ord: Number(flat[i + 1]), queue }
            if (!cursor || before(entry, cursor)) entries.push(entry)
          }
          return entries
        }),
      )
      const merged = perQueue.flat().sort(newerFirst)
      const page = merged.slice(0, limit)
      const records = await Promise.all(page.map((e) => this.read(ns, e.queue, e.id)))
      // A job removed or moved to another status between the two reads is left out of this page.
      const jobs = records.filter(
        (job): job is JobRecord => job !== null && (status === undefined || job.status === status),
      )
      const last = page[page.length - 1]
      return { jobs, cursor: merged.length > limit && last ? encodeCursor(last) : null }
    })
  }

  /**
   * Up to `want` entries of `queue` with an unindexed `status`, newest first below the cursor: from its
   * delivery set when that is small, else `all` is read backwards in chunks (each continues strictly below the last ord read; ords are unique in a
   * queue) and filtered by each job's status field. Costs O(jobs scanned) where the other statuses cost
   * O(page); it keeps the hot path free of index writes. A job moving between the reads is dropped by the
   * caller's status check on the records.
   */
  private async scan(
    ns: string,
    queue: string,
    status: JobStatus,
    cursor: Cursor | null,
    want: number,
  ): Promise<Entry[]> {
    const k = this.b.queue(ns, queue)
    // Every job with the status is in its delivery set (the wait set also holds stalled jobs). A small set
    // (active jobs are bounded by the consumers' concurrency) is cheaper to read whole than `all`, in
    // which it may sit behind a large backlog.
    const set = status === 'active' ? k.active : status === 'delayed' ? k.delayed : k.wait
    if ((await this.b.client.zcard(set)) <= SMALL_SET) {
      const ids = await this.b.client.zrange(set, '0', '-1')
      if (ids.length === 0) return []
      const [ords, statuses] = await Promise.all([
        this.b.client.zmscore(k.all, ...ids),
        Promise.all(ids.map((id) => this.b.client.hget(k.job(id), 'status'))),
      ])
      const found: Entry[] = []
      ids.forEach((id, i) => {
        const ord = ords[i]
        if (ord == null || statuses[i] !== status) return
        const entry = { id, ord: Number(ord), queue }
        if (!cursor || before(entry, cursor)) found.push(entry)
      })
      return found.sort(newerFirst).slice(0, want)
    }
    const entries: Entry[] = []
    let max: string = cursor ? String(cursor.ord) : '+inf'
    while (entries.length < want) {
      const flat = await this.b.client.zrevrangebyscore(
        k.all,
        max,
        '-inf',
        'WITHSCORES',
        'LIMIT',
        0,
        SCAN_CHUNK,
      )
      if (flat.length === 0) break
      const chunk: Entry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const entry = { id: flat[i]!, ord: Number(flat[i + 1]), queue }
        if (!cursor || before(entry, cursor)) chunk.push(entry)
      }
      const statuses = await Promise.all(chunk.map((e) => this.b.client.hget(k.job(e.id), 'status')))
      chunk.forEach((entry, i) => {
        if (statuses[i] === status && entries.length < want) entries.push(entry)
      })
      if (flat.length < SCAN_CHUNK * 2) break
      max = `(${flat[flat.length - 1]}`
    }
    return entries
  }

  /**
   * Waiting, active and delayed jobs are counted by the delivery sets (waiting = the wait set minus the
   * stalled jobs, which wait in it too); the other statuses by their index. One MULTI, so the counts are
   * one snapshot.
   */
  async countJobs(ns: string, queue: string): Promise<Record<JobStatus, number>> {
    const k = this.b.queue(ns, queue)
    return guard('countJobs', async () => {
      const sizes = new Map<string, number>()
      const keys = [k.wait, k.active, k.delayed, ...[...INDEXED].map((s) => k.status(s))]
      const replies = (await keys.reduce((m, key) => m.zcard(key), this.b.client.multi()).exec()) ?? []
      keys.forEach((key, i) => {
        const [error, size] = replies[i] ?? [new Error('no reply')]
        if (error) throw error
        sizes.set(key, Number(size))
      })
      const out = {} as Record<JobStatus, number>
      for (const s of JOB_STATUSES) {
        if (INDEXED.has(s)) out[s] = sizes.get(k.status(s)) ?? 0
      }
      out.waiting = Math.max(0, (sizes.get(k.wait) ?? 0) - out.stalled)
      out.active = sizes.get(k.active) ?? 0
      out.delayed = sizes.get(k.delayed) ?? 0
      return out
    })
  }

  async removeJob(ns: string, id: string): Promise<boolean> {
    return guard('removeJob', async () => {
      const queue = await this.b.queueOf(ns, id)
      if (queue === null) return false
      const k = this.b.queue(ns, queue)
      const ids = this.b.ns(ns).idIndex
      const removed =
        (await this.b.run(
          'remove',
          [k.job(id), k.timeline(id), k.wait, k.delayed, k.all],
          // The call's id: a re-send of this very call answers that it deleted (see remove-5.lua).
          [k.base, id, this.b.clusterMode ? '' : ids, callId()],
        )) === 1
      if (removed && this.b.clusterMode) await this.b.run('indexDel', [ids + id], [queue])
      return removed
    })
  }

  async prune(ns: string, queue: string, request: PruneRequest): Promise<number> {
    const { status, keep, maxAgeMs, limit } = request
    if (status !== 'completed' && status !== 'failed' && status !== 'cancelled') {
      throw new OqronConfigError(`prune status must be completed, failed or cancelled, got ${status}.`, {
        field: 'status',
      })
    }
    if (!Number.isInteger(limit) || limit < 0) {
      throw new OqronConfigError(`prune limit must be an integer >= 0, got ${limit}.`, { field: 'limit' })
    }
    const k = this.b.queue(ns, queue)
    const ids = this.b.ns(ns).idIndex
    return guard('prune', async () => {
      const removed = (await this.b.run(
        'prune',
        [k.finished(status), k.all],
        [
          k.base,
          status,
          keep === null ? '' : Math.max(0, Math.floor(keep)),
          maxAgeMs === null ? '' : Math.max(0, Math.floor(maxAgeMs)),
          // The script unpacks the batch onto Lua's stack: larger requests are served in part.
          Math.min(limit, 1_000),
          this.b.clusterMode ? '' : ids,
          queue,
        ],
      )) as string[]
      if (this.b.clusterMode)
        await Promise.all(removed.map((id) => this.b.run('indexDel', [ids + id], [queue])))
      return removed.length
    })
  }

  async getState<T = unknown>(ns: string, key: string): Promise<T | null> {
    return guard('getState', async () => {
      const value = await this.b.client.get(this.b.ns(ns).state(key))
      return value === null ? null : (JSON.parse(value) as T)
    })
  }

  async setState(ns: string, key: string, value: unknown): Promise<void> {
    const stateKey = this.b.ns(ns).state(key)
    await guard('setState', async () => {
      if (value === null || value === undefined) await this.b.client.del(stateKey)
      else await this.b.client.set(stateKey, canonicalJson(value))
    })
  }

  async compareAndSetState(ns: string, key: string, expected: unknown, next: unknown): Promise<boolean> {
    const absent = (v: unknown) => v === null || v === undefined
    const args = [absent(expected) ? '' : canonicalJson(expected), absent(next) ? '' : canonicalJson(next)]
    return guard(
      'compareAndSetState',
      async () => (await this.b.run('stateCas', [this.b.ns(ns).state(key)], args)) === 1,
    )
  }
}
