import type { JobError, JobRecord, JobStatus, TimelineEntry } from '@oqronkit/core'

/** A job as the scripts return it: `{ HGETALL fields, timeline entries }`. */
export type RawJob = [fields: string[], timeline: string[]]

function fieldsOf(flat: string[]): Map<string, string> {
  const fields = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!)
  return fields
}

const num = (value: string | undefined): number => (value === undefined ? 0 : Number(value))
const numOrNull = (value: string | undefined): number | null => (value === undefined ? null : Number(value))
const jsonOrNull = <T>(value: string | undefined): T | null =>
  value === undefined ? null : (JSON.parse(value) as T)

/** The record, or null when the hash is empty (no such job). */
export function decodeJob(raw: RawJob): JobRecord | null {
  const [flat, timeline] = raw
  if (flat.length === 0) return null
  const f = fieldsOf(flat)
  return {
    id: f.get('id')!,
    queue: f.get('queue')!,
    status: f.get('status') as JobStatus,
    data: JSON.parse(f.get('data') ?? 'null'),
    result: jsonOrNull(f.get('result')),
    error: jsonOrNull<JobError>(f.get('error')),
    attempts: num(f.get('attempts')),
    maxAttempts: num(f.get('maxAttempts')),
    stalledCount: num(f.get('stalledCount')),
    progress: num(f.get('progress')),
    progressLabel: f.get('progressLabel') ?? null,
    priority: num(f.get('priority')),
    lifo: f.get('lifo') === '1',
    guaranteed: f.get('guaranteed') === '1',
    workerId: f.get('workerId') ?? null,
    token: f.get('token') ?? null,
    lockExpiresAt: numOrNull(f.get('lockExpiresAt')),
    createdAt: num(f.get('createdAt')),
    startedAt: numOrNull(f.get('startedAt')),
    finishedAt: numOrNull(f.get('finishedAt')),
    runAt: num(f.get('runAt')),
    timeline: timeline.map((entry) => JSON.parse(entry) as TimelineEntry),
  }
}

/** The listing score (`ord`) of a raw job, for cursors. */
export function ordOf(raw: RawJob): number {
  return Number(fieldsOf(raw[0]).get('ord') ?? 0)
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
