import assert from 'node:assert/strict'
import { runCloseCheckChild } from '../crash/harness.js'
import type { AdapterFixture, ContractCheck, CreateContext } from '../types.js'
import { randomId, sleep, testClock, waitUntil } from '../util.js'

/** Resources that keep the event loop alive, by type (unref'd timers are not listed). */
function resources(): Map<string, number> {
  const counts = new Map<string, number>()
  // Node >= 17.3; typed as optional so older @types/node still compile.
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.() ?? []
  for (const type of info) counts.set(type, (counts.get(type) ?? 0) + 1)
  return counts
}

function excess(baseline: Map<string, number>): string[] {
  const out: string[] = []
  for (const [type, n] of resources())
    if (n > (baseline.get(type) ?? 0)) out.push(`${type} ×${n - (baseline.get(type) ?? 0)}`)
  return out
}

export const closingChecks: ContractCheck[] = [
  {
    id: 'closing.no-handles',
    title:
      'after close() the adapter set leaves nothing that keeps the process alive (sockets, timers, waiters)',
    async run(t) {
      // Let earlier checks' sockets finish closing before taking the baseline.
      await sleep(200)
      const baseline = resources()
      const ctx: CreateContext = { clock: testClock(), id: randomId() }
      const created = await t.options.create(ctx)
      const adapters = 'adapters' in created ? (created as AdapterFixture).adapters : created
      await adapters.open?.()
      const abort = new AbortController()
      let closed = false
      try {
        const job = t.job()
        await adapters.broker.add(t.ns, job)
        const [claimed] = await adapters.broker.claim(t.ns, t.queue, {
          workerId: 'w',
          limit: 1,
          leaseMs: 60_000,
        })
        assert.ok(claimed)
        await adapters.broker.renew(t.ns, claimed.id, claimed.token!, 60_000)
        await adapters.lock.acquire(t.ns, 'k', 'w', 60_000)
        await adapters.broker.onCancel(t.ns, () => {})
        await adapters.broker.cancel(t.ns, claimed.id)
        await adapters.storage.setState(t.ns, 'k', 1)
        // A consumer parked on an empty queue while the adapter closes.
        void adapters.broker.waitForWork(t.ns, `${t.queue}idle`, 60_000, abort.signal).catch(() => {})
        await sleep(100)
        await adapters.close()
        closed = true
        await waitUntil(() => excess(baseline).length === 0, {
          timeoutMs: 10_000,
          what: 'the handles opened by the adapter set to close',
        }).catch(() => {
          throw new assert.AssertionError({
            message: `after close() these handles are still open: ${excess(baseline).join(', ')}`,
          })
        })
      } finally {
        abort.abort()
        if (!closed) await adapters.close().catch(() => {})
        await t.options.cleanup?.(adapters, ctx)
      }
    },
  },
  {
    id: 'closing.child-exits',
    title: 'a process that used the adapters and closed them exits by itself (nothing keeps it alive)',
    skip: (_caps, options) =>
      options.process ? null : 'no `process` option: the suite cannot build these adapters in a child',
    timeoutMs: 90_000,
    async run(t) {
      const result = await runCloseCheckChild(t.options.process!, {
        ns: t.ns,
        queue: t.queue,
        timeoutMs: 45_000,
      })
      assert.equal(
        result.exitedByItself,
        true,
        `the child did not exit by itself within 45 s after close(); ${result.detail}`,
      )
      assert.equal(result.code, 0, `the child failed: ${result.detail}`)
    },
  },
]
