import assert from 'node:assert/strict'
import type { ClaimRequest, JobRecord, NewJob, OqronAdapters } from '@oqronkit/core'
import type { AdapterCapabilities, CheckContext, ContractCheck, ResolvedCapabilities } from '../types.js'
import { randomId, waitUntil } from '../util.js'

/** The short real lease the suite uses wherever expiry matters: long enough for a loaded CI, short to wait out. */
export const SHORT_LEASE_MS = 250
/** A lease no check outlives. */
export const LONG_LEASE_MS = 60_000

type BooleanCapability = {
  [K in keyof AdapterCapabilities]-?: AdapterCapabilities[K] extends boolean | undefined ? K : never
}[keyof AdapterCapabilities]

/** A `skip` that rules a check out when a boolean capability is declared false. */
export function needs(...names: BooleanCapability[]): ContractCheck['skip'] {
  return (caps: ResolvedCapabilities) => {
    const missing = names.filter((n) => !caps[n])
    return missing.length ? `the adapter declares ${missing.map((n) => `${n}: false`).join(', ')}` : null
  }
}

export const needsControllableClock: ContractCheck['skip'] = (caps) =>
  caps.backendClock === 'controllable'
    ? null
    : "the adapter declares backendClock: 'real' (its clock cannot be moved)"

export function claimRequest(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return { workerId: randomId('w'), limit: 1, leaseMs: LONG_LEASE_MS, ...overrides }
}

/** Add a job and assert it was created. */
export async function addJob(
  t: CheckContext,
  overrides: Partial<NewJob> = {},
  adapters = t.adapters,
): Promise<JobRecord> {
  const job = t.job(overrides)
  const result = await adapters.broker.add(t.ns, job)
  assert.equal(result.outcome, 'created', `add(${job.id}) should create the job`)
  assert.ok(result.job, 'add() returns the stored job when it creates one')
  return result.job
}

/** Claim exactly one job of the check's queue. */
export async function claimOne(
  t: CheckContext,
  overrides: Partial<ClaimRequest> = {},
  adapters: OqronAdapters = t.adapters,
): Promise<JobRecord> {
  const jobs = await adapters.broker.claim(t.ns, t.queue, claimRequest(overrides))
  assert.equal(jobs.length, 1, `claim() should return one job, got ${jobs.length}`)
  return jobs[0]!
}

/** Wait until the stall scan acts on `id` (its lease expired by the backend's clock). */
export async function waitForStall(t: CheckContext, id: string, maxStalledCount = 10, adapters = t.adapters) {
  return waitUntil(
    async () => {
      const outcomes = await adapters.broker.recoverStalled(t.ns, t.queue, { maxStalledCount, limit: 100 })
      return outcomes.find((o) => o.job.id === id)
    },
    {
      timeoutMs: 15_000,
      what: `recoverStalled() to act on job ${id} after its ${SHORT_LEASE_MS} ms lease expired`,
    },
  )
}

/**
 * A job claimed twice: the first lease (`stale`) expired and was recovered, the second (`live`) holds it now.
 * The setting of every fencing check.
 */
export async function reclaimed(t: CheckContext): Promise<{ stale: JobRecord; live: JobRecord }> {
  await addJob(t)
  const stale = await claimOne(t, { leaseMs: SHORT_LEASE_MS })
  const outcome = await waitForStall(t, stale.id)
  assert.equal(outcome.action, 'requeued', 'an expired guaranteed job is requeued')
  const live = await claimOne(t, { leaseMs: LONG_LEASE_MS })
  assert.equal(live.id, stale.id)
  assert.notEqual(live.token, stale.token, 'a re-claim must hand out a new token')
  return { stale, live }
}

export async function getJob(t: CheckContext, id: string, adapters = t.adapters): Promise<JobRecord> {
  const job = await adapters.storage.getJob(t.ns, id)
  assert.ok(job, `getJob(${id}) should find the job`)
  return job
}

/** The fields a rejected write must leave exactly as they were. */
export function snapshot(job: JobRecord) {
  return {
    status: job.status,
    token: job.token,
    workerId: job.workerId,
    lockExpiresAt: job.lockExpiresAt,
    attempts: job.attempts,
    progress: job.progress,
    progressLabel: job.progressLabel,
    result: job.result,
    error: job.error,
    finishedAt: job.finishedAt,
    timeline: job.timeline.length,
  }
}

/** A record without its timeline (a claim may return [] there; getJob returns the full one). */
export function withoutTimeline(job: JobRecord): Omit<JobRecord, 'timeline'> {
  const { timeline: _, ...rest } = job
  return rest
}

export function events(job: JobRecord): string[] {
  return job.timeline.map((e) => e.event)
}
