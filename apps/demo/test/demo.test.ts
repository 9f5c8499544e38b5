import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('the demo runs on the in-memory default and exits 0 by itself', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
  const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', main], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  expect(run.status).toBe(0)
  const out = run.stdout
  expect(out).toContain('idempotency: add inv_2 twice → "created", then "duplicate" (one job)')
  expect(out).toContain('cancel: record kept with status "cancelled"')
  expect(out).toMatch(/crash: node A's write for report-7 rejected/)
  expect(out).toContain('crash: stored result is "written by B"; node A stale writes rejected: 1')
  expect(out).toContain('stop: done')
})
