import { describe, expect, it } from 'vitest'
import { memoryAdapter } from '../src/index.js'
import { job, ns } from './helpers.js'

const name = (i: number) => `j${String(i).padStart(3, '0')}`

describe('memory adapter: listJobs cursors', () => {
  it('a cursor keeps its place when removals compact the insertion order meanwhile', async () => {
    const { broker, storage } = memoryAdapter()
    for (let i = 0; i < 100; i++) await broker.add(ns, job(name(i)))
    let page = await storage.listJobs(ns, { limit: 10 })
    const seen = page.jobs.map((j) => j.id)
    // Enough removals (of jobs not listed yet) for the namespace to compact its insertion order.
    for (let i = 0; i < 60; i++) expect(await storage.removeJob(ns, name(i))).toBe(true)
    while (page.cursor !== null) {
      page = await storage.listJobs(ns, { limit: 10, cursor: page.cursor })
      seen.push(...page.jobs.map((j) => j.id))
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => name(99 - i)))
  })

  it('a removed and re-added id is listed once, as the newest', async () => {
    const { broker, storage } = memoryAdapter()
    for (let i = 0; i < 80; i++) await broker.add(ns, job(name(i)))
    for (let i = 0; i < 50; i++) await storage.removeJob(ns, name(i))
    await broker.add(ns, job(name(0)))
    const ids: string[] = []
    let cursor: string | null = null
    do {
      const page = await storage.listJobs(ns, { limit: 7, cursor })
      ids.push(...page.jobs.map((j) => j.id))
      cursor = page.cursor
    } while (cursor !== null)
    expect(ids).toEqual([name(0), ...Array.from({ length: 30 }, (_, i) => name(79 - i))])
  })

  it('refuses a cursor it did not return, with a typed error', async () => {
    const { storage } = memoryAdapter()
    await expect(storage.listJobs(ns, { limit: 10, cursor: '12abc' })).rejects.toMatchObject({
      name: 'OqronConfigError',
    })
  })
})
