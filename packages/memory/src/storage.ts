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
import { isPlace, toRecord } from './state.js'
import type { MemoryStore } from './store.js'

export class MemoryStorage implements StorageAdapter {
  constructor(private readonly store: MemoryStore) {}

  async getJob(ns: string, id: string): Promise<JobRecord | null> {
    const job = this.store.ns(ns).jobs.get(id)
    return job ? toRecord(job) : null
  }

  async listJobs(ns: string, query: ListQuery): Promise<JobPage> {
    const space = this.store.ns(ns)
    const limit = query.limit
    assertPageLimit(limit)
    const order = space.order
    let from = order.length - 1
    if (query.cursor) {
      // The cursor is the seq listing goes on below; found by binary search, since compaction moves entries.
      if (!/^\d{1,15}$/.test(query.cursor))
        throw new OqronConfigError(`Invalid cursor "${query.cursor}".`, { field: 'cursor' })
      const below = Number(query.cursor)
      let lo = 0
      let hi = order.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (order[mid]!.seq < below) lo = mid + 1
        else hi = mid
      }
      from = lo - 1
    }
    const jobs: JobRecord[] = []
    let i = from
    for (; i >= 0 && jobs.length < limit; i--) {
      const entry = order[i]!
      const job = space.jobs.get(entry.id)
      if (!job || job.seq !== entry.seq) continue
      if (query.queue !== undefined && job.queue !== query.queue) continue
      if (query.status !== undefined && job.status !== query.status) continue
      jobs.push(toRecord(job))
    }
    return { jobs, cursor: i >= 0 && jobs.length === limit ? String(order[i]!.seq + 1) : null }
  }

  async countJobs(ns: string, queue: string): Promise<Record<JobStatus, number>> {
    const q = this.store.ns(ns).queues.get(queue)
    return Object.fromEntries(JOB_STATUSES.map((s) => [s, q?.counts[s] ?? 0])) as Record<JobStatus, number>
  }

  async removeJob(ns: string, id: string): Promise<boolean> {
    const space = this.store.ns(ns)
    const job = space.jobs.get(id)
    if (!job || job.status === 'active') return false
    const q = space.queue(job.queue)
    q.counts[job.status]--
    q.held.delete(id)
    space.jobs.delete(id)
    space.compact()
    return true
  }

  async prune(ns: string, queue: string, request: PruneRequest): Promise<number> {
    const space = this.store.ns(ns)
    const q = space.queues.get(queue)
    if (!q) return 0
    const list = q.finished[request.status]
    const cutoff = request.maxAgeMs === null ? null : this.store.now() - request.maxAgeMs
    let removed = 0
    while (removed < request.limit && list.length > 0) {
      const entry = list.peek()!
      const id = entry.id
      const job = space.jobs.get(id)
      if (!isPlace(job, entry) || job.status !== request.status || job.queue !== queue) {
        // Stale entry: removed, retried or re-added since it finished (a job finished again, or a job of
        // another queue with the same id, has a newer entry of its own).
        list.shift()
        continue
      }
      const overCount = request.keep !== null && q.counts[request.status] > request.keep
      const overAge = cutoff !== null && job.finishedAt !== null && job.finishedAt <= cutoff
      if (!overCount && !overAge) break
      list.shift()
      q.counts[job.status]--
      space.jobs.delete(id)
      removed++
    }
    if (removed > 0) space.compact()
    return removed
  }

  async getState<T = unknown>(ns: string, key: string): Promise<T | null> {
    const raw = this.store.ns(ns).state.get(key)
    return raw === undefined ? null : (JSON.parse(raw) as T)
  }

  async setState(ns: string, key: string, value: unknown): Promise<void> {
    const state = this.store.ns(ns).state
    if (value === null || value === undefined) state.delete(key)
    else state.set(key, JSON.stringify(value))
  }

  async compareAndSetState(ns: string, key: string, expected: unknown, next: unknown): Promise<boolean> {
    const state = this.store.ns(ns).state
    const raw = state.get(key)
    const current = raw === undefined ? null : canonicalJson(JSON.parse(raw))
    const wanted = expected === null || expected === undefined ? null : canonicalJson(expected)
    if (current !== wanted) return false
    if (next === null || next === undefined) state.delete(key)
    else state.set(key, JSON.stringify(next))
    return true
  }
}

/** JSON with object keys sorted at every level: deep JSON equality must not depend on key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  )
}
