import { afterEach, describe, expect, it, vi } from 'vitest'
import { toNewJob } from '../src/enqueue.js'
import { newJobId } from '../src/job-id.js'

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The 48-bit millisecond timestamp of a UUIDv7. */
const msOf = (id: string) => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

describe('newJobId', () => {
  afterEach(() => vi.restoreAllMocks())

  it('makes version-7 UUIDs that carry the current millisecond', () => {
    const before = Date.now()
    const id = newJobId()
    const after = Date.now()
    expect(id).toMatch(V7)
    expect(msOf(id)).toBeGreaterThanOrEqual(before)
    expect(msOf(id)).toBeLessThanOrEqual(after)
  })

  it('sorts in the order ids were made, and never repeats, within one millisecond and across many', () => {
    const ids = Array.from({ length: 50_000 }, () => newJobId())
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
  })

  it('stays unique and ordered when the clock stands still or steps back', () => {
    const now = Date.now() + 10_000
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now)
    // More than the 12-bit counter holds: the rest borrow the next milliseconds.
    const frozen = Array.from({ length: 10_000 }, () => newJobId())
    clock.mockReturnValue(now - 5_000)
    const back = Array.from({ length: 100 }, () => newJobId())
    const ids = [...frozen, ...back]
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
    for (const id of ids) expect(id).toMatch(V7)
    expect(msOf(frozen[0]!)).toBe(now)
    expect(msOf(frozen.at(-1)!)).toBeGreaterThan(now)
  })

  it('is the default job id of an add without jobId', () => {
    const defaults = { maxAttempts: 1, guaranteed: true, disabledBehavior: 'hold' as const }
    expect(toNewJob('q', { n: 1 }, {}, defaults, null).id).toMatch(V7)
    const given = toNewJob('q', null, { jobId: 'mine' }, defaults, null)
    expect(given.id).toBe('mine')
  })
})
