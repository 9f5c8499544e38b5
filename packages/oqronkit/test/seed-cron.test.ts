// The seed's cron() and schedule() examples, run as written. The seed was written with a migration due on
// 2026-12-01; the wall clock is pinned before that date so the example stays valid whenever this runs.
import { cron, OqronKit, OqronManager, schedule } from 'oqronkit'
import { afterAll, expect, it, vi } from 'vitest'

afterAll(async () => {
  await OqronKit.stop()
  vi.useRealTimers()
})

it("the seed's cron and schedule examples run as written", async () => {
  vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-11-28T12:00:00Z') })

  // Cron — opt-in for critical scheduled jobs
  const billingCron = cron({
    name: 'monthly-billing',
    expression: '0 0 1 * *',
    guaranteedWorker: true, // Critical — must survive crashes
    heartbeatMs: 5_000,
    lockTtlMs: 20_000,
    handler: async (ctx) => {
      /* ... */
    },
  })
  // Schedule — opt-in for critical one-off tasks
  const migration = schedule({
    name: 'data-migration',
    runAt: new Date('2026-12-01'),
    guaranteedWorker: true, // Must complete — no lost migrations
    handler: async (ctx) => {
      /* ... */
    },
  })

  await OqronKit.init({ shutdown: { signals: false } })
  expect(billingCron.nextRun(new Date('2026-11-28T12:00:00Z'))!.getTime()).toBe(
    new Date(2026, 11, 1, 0, 0, 0).getTime(),
  )
  const mgr = OqronManager.from(OqronKit.getConfig())
  const job = await mgr.getJob('schedule:data-migration:2026-12-01T00:00:00.000Z')
  expect(job).toMatchObject({ status: 'delayed', guaranteed: true })
  expect(migration.queue).toBe('schedule:data-migration')
})
