import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const child = fileURLToPath(new URL('./fixtures/shutdown-child.ts', import.meta.url))

interface Run {
  proc: ChildProcess
  messages: Record<string, any>[]
  waitFor(event: string, timeoutMs?: number): Promise<Record<string, any>>
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

function start(mode: string): Run {
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', child, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const messages: Record<string, any>[] = []
  const waiters = new Set<() => void>()
  let buffer = ''
  proc.stdout!.on('data', (chunk) => {
    buffer += chunk
    let nl = buffer.indexOf('\n')
    while (nl >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line.startsWith('{')) messages.push(JSON.parse(line))
      nl = buffer.indexOf('\n')
    }
    for (const w of [...waiters]) w()
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  )
  const waitFor = (event: string, timeoutMs = 20_000) =>
    new Promise<Record<string, any>>((resolve, reject) => {
      const check = () => {
        const found = messages.find((m) => m.event === event)
        if (found) {
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        proc.kill('SIGKILL')
        reject(new Error(`child never said "${event}"; saw ${JSON.stringify(messages)}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })
  return { proc, messages, waitFor, exit }
}

async function exitWithin(run: Run, ms: number) {
  const timer = setTimeout(() => run.proc.kill('SIGKILL'), ms)
  const result = await run.exit
  clearTimeout(timer)
  return result
}

describe('graceful shutdown in a real process', () => {
  it('SIGTERM during a job drains it and the process exits 0 on its own', async () => {
    const run = start('drain')
    await run.waitFor('started')
    run.proc.kill('SIGTERM')
    const exit = await exitWithin(run, 15_000)
    expect(exit).toMatchObject({ code: 0, signal: null })
    const events = run.messages.map((m) => m.event)
    expect(events).toContain('finished')
    expect(run.messages.find((m) => m.event === 'stopped')).toMatchObject({ status: 'completed' })
  })

  it('a job longer than the shutdown timeout has its lease released (waiting) and the process still exits 0', async () => {
    const run = start('release')
    await run.waitFor('started')
    const t0 = Date.now()
    run.proc.kill('SIGTERM')
    const exit = await exitWithin(run, 15_000)
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.at - t0).toBeLessThan(5_000)
    const stopped = run.messages.find((m) => m.event === 'stopped')
    expect(stopped).toMatchObject({ status: 'waiting', attempts: 0 })
    expect(stopped!.timeline).toEqual(['added', 'active', 'released'])
    expect(run.messages.map((m) => m.event)).not.toContain('finished')
  })

  it('a second SIGTERM forces the exit', async () => {
    const run = start('force')
    await run.waitFor('started')
    run.proc.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 200))
    expect(run.proc.exitCode).toBeNull()
    const t0 = Date.now()
    run.proc.kill('SIGTERM')
    const exit = await exitWithin(run, 10_000)
    expect(exit.code).toBe(143)
    expect(exit.at - t0).toBeLessThan(3_000)
  })

  it('no open handle keeps the process alive after OqronKit.stop()', async () => {
    const run = start('handles')
    await run.waitFor('stop-returned')
    const t0 = Date.now()
    const exit = await exitWithin(run, 10_000)
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.at - t0).toBeLessThan(2_000)
    expect(run.messages.find((m) => m.event === 'stopped')).toMatchObject({ status: 'completed' })
  })
})
