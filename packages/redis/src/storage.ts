import {
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
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new OqronConfigError(`listJobs limit must be an integer from 1 to 1000, got ${limit}.`, {
        field: 'limit',
      })
    }
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

  async countJobs(ns: string, queue: string): Promise<Record<JobStatus, number>> {
    const k = this.b.queue(ns, queue)
    return guard('countJobs', async () => {
      const counts = await Promise.all(JOB_STATUSES.map((s) => this.b.client.zcard(k.status(s))))
      const out = {} as Record<JobStatus, number>
      JOB_STATUSES.forEach((s, i) => {
        out[s] = counts[i]!
      })
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
          [k.base, id, this.b.clusterMode ? '' : ids],
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
