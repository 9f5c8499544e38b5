import { type ChildProcess, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { ChildAdapterConfig, ChildMessage, HarnessEvent, ParentMessage, WorkerSpec } from './protocol.js'

/**
 * The child entry: `crash/child.ts` from source, `dist/crash/child.{js,cjs}` from the build. The harness may be
 * bundled into `dist/index.*` (the suite's process checks) or `dist/crash/index.*`, so look in both places.
 */
function childEntry(): string {
  const here = import.meta.url
  const ext = here.slice(here.lastIndexOf('.'))
  const candidates = [`./child${ext}`, `./crash/child${ext}`].map((p) => fileURLToPath(new URL(p, here)))
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!
}

let tsxUrl: string | null | undefined

/** tsx as resolved from the testkit (a root devDependency in this repo, an optional peer when published). */
function defaultExecArgv(): string[] {
  if (tsxUrl === undefined) {
    try {
      tsxUrl = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    } catch {
      tsxUrl = null
    }
  }
  return tsxUrl ? ['--conditions=source', '--import', tsxUrl] : []
}

function spawnChild(adapter: ChildAdapterConfig): ChildProcess {
  return fork(childEntry(), [], {
    execArgv: adapter.execArgv ?? defaultExecArgv(),
    env: { ...process.env, ...adapter.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  })
}

function collectOutput(child: ChildProcess): () => string {
  let out = ''
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-8_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return () => out
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A signal sent to a worker (or a freeze of one of its runtimes), the start of a recovery measurement. */
export interface Interruption {
  worker: string
  pid: number
  /** The frozen runtime; null when the whole process was signalled. */
  runtime: string | null
  signal: NodeJS.Signals | 'freeze'
  at: number
}

export interface WaitForOptions {
  /** @default 30000 */
  timeoutMs?: number
  what?: string
}

/**
 * One worker process of a `CrashHarness`. Everything it reports lands in `harness.events`.
 */
export class ChildWorker {
  private reqSeq = 0
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Worker ids of its runtimes, by runtime name. */
  workerIds: Record<string, string> = {}
  private readonly output: () => string

  /** @internal */
  constructor(
    private readonly harness: CrashHarness,
    readonly name: string,
    readonly spec: WorkerSpec,
    readonly process: ChildProcess,
  ) {
    this.output = collectOutput(process)
    this.exited = new Promise((resolve) => process.once('exit', (code, signal) => resolve({ code, signal })))
    process.on('message', (raw: unknown) => {
      const message = raw as ChildMessage
      if (message.type === 'harness') harness.record(message.event)
      else if (message.type === 'reply') {
        const waiter = this.pending.get(message.reqId)
        this.pending.delete(message.reqId)
        if (message.ok) waiter?.resolve(message.value)
        else waiter?.reject(new Error(`worker ${name}: ${message.error}`))
      }
    })
    void this.exited.then(() => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`worker ${name} exited. Output:\n${this.output()}`))
      this.pending.clear()
    })
  }

  get pid(): number {
    return this.process.pid!
  }

  /** The last 8 KB of the child's stdout and stderr. */
  get logs(): string {
    return this.output()
  }

  private request(
    message: DistributiveOmit<Extract<ParentMessage, { reqId: number }>, 'reqId'>,
  ): Promise<unknown> {
    const reqId = ++this.reqSeq
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { resolve, reject })
      this.process.send({ ...message, reqId } as ParentMessage)
    })
  }

  /** Enqueue jobs through one of its runtimes (the first by default). Resolves with each add's outcome. */
  add(
    jobs: { jobId: string; data?: unknown; delay?: number }[] | string,
    runtime: string | null = null,
  ): Promise<string[]> {
    const list = typeof jobs === 'string' ? [{ jobId: jobs }] : jobs
    return this.request({ type: 'add', runtime, jobs: list }) as Promise<string[]>
  }

  /** Send a signal and note when. `SIGKILL` is a crash; `SIGSTOP` a frozen process (a GC pause, a VM stall). */
  signal(signal: NodeJS.Signals): Interruption {
    const at = Date.now()
    this.process.kill(signal)
    const record: Interruption = { worker: this.name, pid: this.pid, runtime: null, signal, at }
    this.harness.interruptions.push(record)
    return record
  }

  kill(): Interruption {
    return this.signal('SIGKILL')
  }

  /** SIGSTOP: the whole process freezes, sockets and all. */
  pause(): Interruption {
    return this.signal('SIGSTOP')
  }

  /** SIGCONT after `pause()`. */
  resume(): void {
    this.process.kill('SIGCONT')
  }

  /** Stop one runtime's timers (heartbeats, stall scans) while its handlers and the process go on. */
  async freeze(runtime: string): Promise<Interruption> {
    await this.request({ type: 'freeze', runtime })
    const record: Interruption = {
      worker: this.name,
      pid: this.pid,
      runtime,
      signal: 'freeze',
      at: Date.now(),
    }
    this.harness.interruptions.push(record)
    return record
  }

  async thaw(runtime: string): Promise<void> {
    await this.request({ type: 'thaw', runtime })
  }

  /** Graceful stop of every runtime (drain, release), then the child exits. */
  async stop(): Promise<void> {
    await this.request({ type: 'stop' })
    await this.exited
  }
}

/**
 * Starts worker processes on one adapter configuration and records what each saw: handler starts and ends,
 * accepted completions, refused (stale) writes, recoveries. Measures recovery time and counts executions.
 */
export class CrashHarness {
  readonly events: HarnessEvent[] = []
  readonly interruptions: Interruption[] = []
  readonly workers: ChildWorker[] = []
  private readonly listeners = new Set<() => void>()

  /** @internal */
  record(event: HarnessEvent): void {
    this.events.push(event)
    for (const listener of [...this.listeners]) listener()
  }

  /** Fork a worker and resolve once its runtimes are consuming. */
  async start(spec: WorkerSpec, options: { timeoutMs?: number } = {}): Promise<ChildWorker> {
    const name = spec.name ?? `worker-${this.workers.length + 1}`
    const child = spawnChild(spec.adapter)
    const worker = new ChildWorker(this, name, spec, child)
    this.workers.push(worker)
    const ready = await new Promise<ChildMessage>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `worker ${name} not ready after ${options.timeoutMs ?? 60_000} ms. Output:\n${worker.logs}`,
            ),
          ),
        options.timeoutMs ?? 60_000,
      )
      child.on('message', (raw: unknown) => {
        const message = raw as ChildMessage
        if (message.type === 'ready' || message.type === 'fatal') {
          clearTimeout(timer)
          resolve(message)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`worker ${name} exited with ${code} before it was ready. Output:\n${worker.logs}`))
      })
      child.send({ type: 'init', mode: 'worker', spec: { ...spec, name } } satisfies ParentMessage)
    })
    if (ready.type === 'fatal') throw new Error(`worker ${name} could not start: ${ready.message}`)
    if (ready.type === 'ready') worker.workerIds = ready.workerIds
    return worker
  }

  /** Resolve with the first event (seen or future) matching `predicate`. */
  waitFor<E extends HarnessEvent>(
    predicate: (event: HarnessEvent) => event is E,
    options?: WaitForOptions,
  ): Promise<E>
  waitFor(predicate: (event: HarnessEvent) => boolean, options?: WaitForOptions): Promise<HarnessEvent>
  waitFor(predicate: (event: HarnessEvent) => boolean, options: WaitForOptions = {}): Promise<HarnessEvent> {
    const { timeoutMs = 30_000, what = 'a harness event' } = options
    const found = this.events.find(predicate)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find(predicate)
        if (hit) {
          clearTimeout(timer)
          this.listeners.delete(check)
          resolve(hit)
        }
      }
      const timer = setTimeout(() => {
        this.listeners.delete(check)
        reject(
          new Error(
            `Timed out after ${timeoutMs} ms waiting for ${what}. Events so far:\n${this.describe()}`,
          ),
        )
      }, timeoutMs)
      this.listeners.add(check)
    })
  }

  /** Wait until a handler runs `jobId`; with `after`, a run that started after that interruption elsewhere. */
  waitForStart(
    jobId: string,
    options: WaitForOptions & { worker?: string; after?: Interruption } = {},
  ): Promise<Extract<HarnessEvent, { type: 'started' }>> {
    const { after, worker } = options
    return this.waitFor(
      (e): e is Extract<HarnessEvent, { type: 'started' }> =>
        e.type === 'started' &&
        e.jobId === jobId &&
        (worker === undefined || e.worker === worker) &&
        (after === undefined || (e.at >= after.at && !sameNode(e, after))),
      {
        what: `job ${jobId} to start${after ? ` elsewhere after ${after.signal} of ${after.worker}` : ''}`,
        ...options,
      },
    )
  }

  /** How many times a handler started `jobId`, over every worker. */
  executions(jobId: string): number {
    return this.events.filter((e) => e.type === 'started' && e.jobId === jobId).length
  }

  /** Handler starts per job id. */
  executionCounts(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const e of this.events) if (e.type === 'started') counts.set(e.jobId, (counts.get(e.jobId) ?? 0) + 1)
    return counts
  }

  /** Completions the backend accepted, per job id: more than one would break "a zombie never overwrites". */
  completions(jobId: string): number {
    return this.events.filter((e) => e.type === 'event' && e.name === 'completed' && e.jobId === jobId).length
  }

  /** ms from `interruption` to the first start of `jobId` on another node after it; null if none yet. */
  recoveryMs(jobId: string, interruption: Interruption): number | null {
    const start = this.events.find(
      (e) =>
        e.type === 'started' && e.jobId === jobId && e.at >= interruption.at && !sameNode(e, interruption),
    )
    return start ? start.at - interruption.at : null
  }

  /** Every event, one per line, for failure messages. */
  describe(): string {
    return this.events
      .map((e) => {
        const where = `${e.worker}/${e.runtime}(${e.pid})`
        if (e.type === 'started') return `${e.at} ${where} started ${e.jobId} attempt ${e.attempt}`
        if (e.type === 'finished')
          return `${e.at} ${where} finished ${e.jobId}${e.aborted ? ` aborted (${e.reason})` : ''}`
        return `${e.at} ${where} ${e.name} ${e.jobId ?? ''} ${e.detail ?? ''}`
      })
      .join('\n')
  }

  /** SIGKILL every worker still running (stopped ones included) and wait for them to exit. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.process.exitCode === null && w.process.signalCode === null) {
          w.process.kill('SIGKILL')
          await w.exited
        }
      }),
    )
  }
}

function sameNode(e: { pid: number; runtime: string }, i: Interruption): boolean {
  return e.pid === i.pid && (i.runtime === null || e.runtime === i.runtime)
}

/**
 * Start a child that opens the adapters, uses every member that may hold a handle, closes them and
 * disconnects; report whether it then exited by itself within `timeoutMs`.
 */
export async function runCloseCheckChild(
  adapter: ChildAdapterConfig,
  options: { ns: string; queue: string; timeoutMs?: number },
): Promise<{ exitedByItself: boolean; code: number | null; detail: string }> {
  const child = spawnChild(adapter)
  const output = collectOutput(child)
  const messages: string[] = []
  child.on('message', (raw: unknown) => {
    const message = raw as ChildMessage
    if (message.type === 'fatal') messages.push(`fatal: ${message.message}`)
    if (message.type === 'closed') messages.push('closed')
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.send({
    type: 'init',
    mode: 'close-check',
    ns: options.ns,
    spec: { adapter, queue: options.queue, name: 'close-check' },
  } satisfies ParentMessage)
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    exited.then((code) => ({ exitedByItself: true, code })),
    new Promise<{ exitedByItself: false; code: null }>((resolve) => {
      timer = setTimeout(() => resolve({ exitedByItself: false, code: null }), options.timeoutMs ?? 30_000)
    }),
  ])
  clearTimeout(timer)
  if (!outcome.exitedByItself) {
    child.kill('SIGKILL')
    await exited
  }
  return { ...outcome, detail: `messages: [${messages.join(', ')}]; output:\n${output()}` }
}
