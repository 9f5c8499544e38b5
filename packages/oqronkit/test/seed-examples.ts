// The seed document's code (shared/seed/crash-safety.txt), run as written, once per adapter: each test file
// calls runSeedExamples() with the init() options of its backend, the only thing that changes. Only what
// the snippets take from their surroundings (chunks, processChunk, i, an emailQueue) is defined around them.
import { OqronKit, OqronManager, queue, type RuntimeOptions, worker } from 'oqronkit'
import { afterAll, describe, expect, it } from 'vitest'

const processed: string[] = []
const chunks = ['a', 'b', 'c', 'd', 'e', 'f']
let i = 0
async function processChunk(chunk: string) {
  processed.push(chunk)
  i++
  await new Promise((r) => setTimeout(r, 40))
}

/** Registers the seed's queue/worker/idempotency/cancellation examples as one test. */
export function runSeedExamples(where: string, options: () => RuntimeOptions = () => ({})): void {
  afterAll(async () => {
    await OqronKit.stop()
  })

  describe(`the seed's examples${where}`, () => {
    it('queue and worker definitions, idempotency and cancellation run as written', async () => {
      // Queue — enabled by default, disable for fast fire-and-forget tasks
      const fastQueue = queue({
        name: 'analytics-events',
        guaranteedWorker: false, // No heartbeat needed for lightweight tasks
        handler: async (ctx) => {
          /* ... */
        },
      })
      // Queue — default is true, critical financial processing
      const billingQueue = queue({
        name: 'billing',
        heartbeatMs: 3_000, // Renew lock every 3s
        lockTtlMs: 15_000, // Lock expires after 15s if heartbeat stops
        handler: async (ctx) => {
          /* ... */
        },
      })
      // Worker — default is true, heavy compute
      const videoWorker = worker({
        topic: 'video-encode',
        guaranteedWorker: true,
        heartbeatMs: 5_000,
        lockTtlMs: 30_000,
        handler: async (ctx) => {
          for (const chunk of chunks) {
            if (ctx.signal.aborted) return
            await processChunk(chunk)
            ctx.progress((i / chunks.length) * 100)
          }
        },
      })
      const emailQueue = queue({ name: 'emails', handler: async () => 'sent' })
      const videoQueue = queue({ name: 'video-encode' })

      await OqronKit.init({ ...options(), shutdown: { signals: false } })
      expect(videoWorker.topic).toBe('video-encode')

      await fastQueue.add({ event: 'page-view' })
      await billingQueue.add({ invoiceId: 'inv_1' })
      const first = await emailQueue.add(
        { to: 'user@example.com' },
        { jobId: 'welcome-user@example.com' }, // Prevents duplicate processing
      )
      const second = await emailQueue.add(
        { to: 'user@example.com' },
        { jobId: 'welcome-user@example.com' }, // Prevents duplicate processing
      )
      expect(first.outcome).toBe('created')
      expect(second.outcome).toBe('duplicate')

      await videoQueue.add({ file: 'movie.mp4' }, { jobId: 'job-id' })
      await new Promise((r) => setTimeout(r, 100))

      const mgr = OqronManager.from(OqronKit.getConfig())
      await mgr.cancelJob('job-id') // Fires AbortSignal

      // Job still exists with status: "cancelled"
      // Visible in dashboard and queryable via getJob()
      const job = await mgr.getJob('job-id')
      expect(job!.status).toBe('cancelled')
      expect(job!.finishedAt).not.toBeNull()
      await new Promise((r) => setTimeout(r, 150))
      expect(processed.length).toBeGreaterThan(0)
      expect(processed.length).toBeLessThan(chunks.length)
      expect((await mgr.getJob('welcome-user@example.com'))!.status).toBe('completed')
      expect((await mgr.listJobs({ queue: 'emails' })).jobs).toHaveLength(1)

      // Manual stop
      await OqronKit.stop()
      expect(OqronKit.isRunning).toBe(false)
    })
  })
}
