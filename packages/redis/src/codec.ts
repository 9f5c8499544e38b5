import {
  type JobError,
  type JobRecord,
  type JobStatus,
  TIMELINE_LIMIT,
  type TimelineEntry,
} from '@oqronkit/core'

/** The hash fields of a job record, in the order the scripts return them (`readJob` in common.lua). */
export const JOB_FIELDS = [
  'id',
  'queue',
  'status',
  'data',
  'result',
  'error',
  'attempts',
  'maxAttempts',
  'stalledCount',
  'progress',
  'progressLabel',
  'priority',
  'lifo',
  'guaranteed',
  'workerId',
  'token',
  'lockExpiresAt',
  'createdAt',
  'startedAt',
  'finishedAt',
  'runAt',
  'pa',
] as const

/**
 * A job as the scripts return it: `{ values of JOB_FIELDS, stored timeline entries }`. Claim replies carry
 * no stored entries (`{}` from Lua, which ioredis gives as `[]`): the engine never reads a claimed job's
 * timeline, so the claim scripts don't read it.
 */
export type RawJob = [values: Value[], timeline: string[]]

/** A field as a script returns it: a string, a number (cjson replies) or missing (null, or false from cjson). */
type Value = string | number | false | null | undefined

const missing = (value: Value): value is false | null | undefined => value == null || value === false
const num = (value: Value): number => (missing(value) ? 0 : Number(value))
// '' is a blanked field (the completion blanks the lease fields instead of deleting them): unset.
const numOrNull = (value: Value): number | null => (missing(value) || value === '' ? null : Number(value))
const strOrNull = (value: Value): string | null => (missing(value) ? null : String(value))
const jsonOrNull = <T>(value: Value): T | null => (missing(value) ? null : (JSON.parse(String(value)) as T))

/**
 * The full timeline from the stored list plus the entries of the common path that the scripts don't
 * store (see `includes/common.lua`): `added` (at createdAt; it is in the newest TIMELINE_LIMIT exactly
 * while the list was never trimmed, i.e. holds fewer than TIMELINE_LIMIT entries), the claim's `active`
 * while it is pending (field `pa`), and `completed` (at finishedAt), which is always the last entry.
 */
function fullTimeline(v: Value[], stored: string[]): TimelineEntry[] {
  const entries: TimelineEntry[] = []
  if (stored.length < TIMELINE_LIMIT) entries.push({ at: num(v[17]), event: 'added' })
  for (const entry of stored) entries.push(JSON.parse(entry) as TimelineEntry)
  const workerId = strOrNull(v[14])
  if (v[21] === '1') {
    entries.push({
      at: num(v[18]),
      event: 'active',
      ...(workerId ? { workerId } : {}),
      detail: `attempt ${num(v[6])}`,
    })
  }
  if (v[2] === 'completed') {
    entries.push({ at: num(v[19]), event: 'completed', ...(workerId ? { workerId } : {}) })
  }
  return entries.length > TIMELINE_LIMIT ? entries.slice(-TIMELINE_LIMIT) : entries
}

/**
 * The record, or null when the job does not exist. `withTimeline: false` (claim replies) leaves the
 * timeline empty, as the contract allows for claimed jobs.
 */
export function decodeJob(raw: RawJob, withTimeline = true): JobRecord | null {
  const [v, timeline] = raw
  if (missing(v[0])) return null
  return {
    id: String(v[0]),
    queue: String(v[1]),
    status: v[2] as JobStatus,
    data: jsonOrNull(v[3]),
    result: jsonOrNull(v[4]),
    error: jsonOrNull<JobError>(v[5]),
    attempts: num(v[6]),
    maxAttempts: num(v[7]),
    stalledCount: num(v[8]),
    progress: num(v[9]),
    progressLabel: strOrNull(v[10]),
    priority: num(v[11]),
    lifo: v[12] === '1',
    guaranteed: v[13] === '1',
    workerId: strOrNull(v[14]),
    token: strOrNull(v[15]) || null,
    lockExpiresAt: numOrNull(v[16]),
    createdAt: num(v[17]),
    startedAt: numOrNull(v[18]),
    finishedAt: numOrNull(v[19]),
    runAt: num(v[20]),
    timeline: withTimeline ? fullTimeline(v, timeline) : [],
  }
}

/**
 * A job as the claim scripts return it: the JOB_FIELDS values as one JSON array (cjson, `false` for a
 * missing field), with an empty timeline as the contract allows for claimed jobs.
 */
export function decodeClaimed(json: string): JobRecord {
  return decodeJob([JSON.parse(json) as Value[], []], false)!
}

/** `JSON.stringify` that maps `undefined` to `null`, so every stored value parses back. */
export function toJson(value: unknown): string {
  return JSON.stringify(value) ?? 'null'
}

/**
 * JSON with object keys sorted at every level: two deep-equal values give the same string, which lets the
 * compare-and-set script compare states as strings.
 */
export function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
      const sorted: Record<string, unknown> = {}
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k]
      return sorted
    }) ?? 'null'
  )
}

/** Position after which the next page of listJobs starts: (ord, id), newest first. */
export interface Cursor {
  ord: number
  id: string
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.ord, cursor.id])).toString('base64url')
}

export function decodeCursor(cursor: string): Cursor | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(parsed) && typeof parsed[0] === 'number' && typeof parsed[1] === 'string') {
      return { ord: parsed[0], id: parsed[1] }
    }
  } catch {
    // falls through to null: the caller reports a bad cursor
  }
  return null
}
