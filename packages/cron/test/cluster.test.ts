import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { OqronRuntime } from '@oqronkit/core'
import { afterAll, describe, expect, it } from 'vitest'
import { cron, fireJobId } from '../src/index.js'
import { type Backend, postgresBackend, redisBackend } from './backends.js'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const fixture = fileURLToPath(new URL('./fixtures/cron-node.ts', import.meta.url))
const textLoader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))
const backends = [redisBackend(), postgresBackend()]
afterAll(async () => {
  for (const b of backends) await b.cleanup()
})

function child(backend: Backend, guaranteed: boolean, hang: boolean) {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      '--import',
      textLoader,
      fixture,
      JSON.stringify(backend.spec),
      String(guaranteed),
      String(hang),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const messages: Record<string, any>[] = []
  let buffer = ''
  proc.stdout!.on('data', (chunk) => {
    buffer += chunk
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line.startsWith('{')) messages.push(JSON.parse(line))
    }
  })
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()))
  const waitFor = async (event: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = messages.find((m) => m.event === event)
      if (found) return found
      if (Date.now() > deadline) throw new Error(`child never said ${event}: ${JSON.stringify(messages)}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  return { proc, messages, waitFor, exited }
}

describe.each(backends)('cron on $name', (backend) => {
  it('three runtimes with the same every-1s cron for 20 s: every fire time exactly once, each handler run once', async () => {
    const runs = new Map<string, number>()
    const nodes: OqronRuntime[] = []
    for (let i = 0; i < 3; i++) {
      const rt = new OqronRuntime()
      cron({
        name: 'every-second',
        every: '1s',
        runtime: rt,
        handler: async (ctx) => {
          const key = ctx.fireAt.toISOString()
          runs.set(key, (runs.get(key) ?? 0) + 1)
        },
      })
      await rt.init({
        adapters: backend.make(),
        logger: quiet,
        shutdown: { signals: false, timeoutMs: 2_000 },
      })
      nodes.push(rt)
    }
    await new Promise((r) => setTimeout(r, 20_000))
    await Promise.all(nodes.map((rt) => rt.stop()))
    const reader = backend.make()
    await reader.open?.()
    const stored: string[] = []
    let cursor: string | null = null
    do {
      const page = await reader.storage.listJobs('default/default', {
        queue: 'cron:every-second',
        limit: 500,
        cursor,
      })
      stored.push(...page.jobs.map((j) => (j.data as { fireAt: string }).fireAt))
      cursor = page.cursor
    } while (cursor)
    await reader.close()
    stored.sort()
    expect(stored.length).toBeGreaterThanOrEqual(18)
    expect(new Set(stored).size).toBe(stored.length)
    const times = stored.map((s) => Date.parse(s))
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1_000)
    // Every stored fire ran exactly once (the last one may still have been waiting at stop).
    const ran = [...runs.entries()]
    expect(ran.every(([, n]) => n === 1)).toBe(true)
    expect(ran.length).toBeGreaterThanOrEqual(stored.length - 1)
    for (const [fire] of ran) expect(stored).toContain(fire)
  }, 60_000)

  for (const guaranteed of [true, false]) {
    it(`the leader is SIGKILLed mid-fire with guaranteedWorker: ${guaranteed}: ${guaranteed ? 'recovered and completed by another node' : 'failed as worker lost, not re-run'}`, async () => {
      const name = `critical`
      const a = child(backend, guaranteed, true)
      const started = await a.waitFor('started')
      a.proc.kill('SIGKILL')
      await a.exited
      const b = child(backend, guaranteed, false)
      await b.waitFor('ready')
      const reader = backend.make()
      await reader.open?.()
      const id = started.id as string
      expect(id).toBe(fireJobId(`cron:${name}`, Date.parse(started.fireAt)))
      const deadline = Date.now() + 15_000
      let job = await reader.storage.getJob('default/default', id)
      while (Date.now() < deadline && job?.status !== (guaranteed ? 'completed' : 'failed')) {
        await new Promise((r) => setTimeout(r, 100))
        job = await reader.storage.getJob('default/default', id)
      }
      b.proc.kill('SIGTERM')
      await b.exited
      await reader.storage.removeJob('default/default', id)
      await reader.storage.setState('default/default', 'cron:critical:last', null)
      await reader.close()
      if (guaranteed) {
        expect(job).toMatchObject({ status: 'completed', stalledCount: 1, result: { by: b.proc.pid } })
        expect(b.messages.filter((m) => m.id === id).map((m) => m.event)).toEqual(['started', 'finished'])
      } else {
        expect(job!.status).toBe('failed')
        expect(job!.error!.name).toBe('WorkerLostError')
        expect(job!.timeline.map((e) => e.event)).toContain('worker-lost')
        expect(b.messages.filter((m) => m.id === id)).toEqual([])
      }
    }, 60_000)
  }
})
