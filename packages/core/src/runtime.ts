import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { closeAdapters, openAdapters } from './adapter-users.js'
import type { OqronAdapters } from './contracts.js'
import { QueueConsumer } from './engine/consumer.js'
import type { ConsumerDefinition, EngineContext, Logger } from './engine/types.js'
import {
  type AddedJob,
  assertName,
  type EnqueueDefaults,
  type EnqueueOptions,
  NAME_RE,
  toNewJob,
} from './enqueue.js'
import {
  DuplicateDefinitionError,
  JobCancelledError,
  ModuleDisabledError,
  NotInitializedError,
  OqronConfigError,
} from './errors.js'
import { type OqronEventName, type OqronListener, TypedEmitter } from './events.js'
import { assertTimerMs } from './timer-limit.js'
import { realTimers, type TimerHost } from './timers.js'

export interface ShutdownOptions {
  /** How long `stop()` waits for active jobs before releasing them. @default 30000 */
  timeoutMs?: number
  /** Stop gracefully on SIGINT/SIGTERM (a second signal forces exit). @default true */
  signals?: boolean
}

export interface RuntimeOptions {
  /** Storage, Broker and Lock. @default memoryAdapter() when the `oqronkit` package is used */
  adapters?: OqronAdapters
  /** Namespace part one: jobs, locks and state of different projects never meet. @default 'default' */
  project?: string
  /** Namespace part two. @default 'default' */
  environment?: string
  shutdown?: ShutdownOptions
  /** Fallback wake-up of an idle consumer if a notification is lost, ms. @default 5000 */
  pollIntervalMs?: number
  /** Where warnings and errors go. @default console (warn and error only) */
  logger?: Logger
  /** This node's id in leases and timelines. @default `<hostname>:<pid>:<random>` */
  workerId?: string
  /** Timers of heartbeats, stall scans and shutdown; inject to freeze a runtime in tests. @default real, unref'd */
  timers?: TimerHost
  /**
   * Wall clock for schedules (cron fire times). Leases never use it: they use the backend's clock.
   * Inject with the memory adapter's clock to simulate outages and DST in tests. @default Date.now
   */
  clock?: () => number
}

export const runtimeDefaults = {
  project: 'default',
  environment: 'default',
  shutdown: { timeoutMs: 30_000, signals: true },
  pollIntervalMs: 5_000,
} satisfies Partial<RuntimeOptions>

/** What `OqronManager.from()` and modules need to reach a running runtime. */
export interface OqronConfig {
  readonly runtime: OqronRuntime
  readonly adapters: OqronAdapters
  /** `<project>/<environment>`: the namespace every adapter call uses. */
  readonly ns: string
  readonly project: string
  readonly environment: string
}

interface Registration {
  kind: string
  name: string
  queue: string
}

const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (message, ...args) => console.warn(`[oqronkit] ${message}`, ...args),
  error: (message, ...args) => console.error(`[oqronkit] ${message}`, ...args),
}

let defaultAdapterFactory: (() => OqronAdapters) | null = null

/**
 * A node of OqronKit: its definitions, consumers, heartbeats and shutdown. `OqronKit` is the default
 * instance; tests and multi-tenant hosts create more, several of which may share one adapter set and so
 * act as several nodes in one process.
 */
export class OqronRuntime {
  /** Called by the `oqronkit` package so `init()` without adapters uses the in-memory adapter. */
  static setDefaultAdapters(factory: (() => OqronAdapters) | null): void {
    defaultAdapterFactory = factory
  }

  readonly events = new TypedEmitter()
  private state: 'idle' | 'starting' | 'running' | 'stopping' = 'idle'
  private engine: EngineContext | null = null
  private config: OqronConfig | null = null
  private readonly registrations = new Map<string, Registration>()
  private readonly consumerDefs = new Map<string, ConsumerDefinition>()
  private readonly consumers = new Map<string, QueueConsumer>()
  private readonly stopHooks = new Set<() => Promise<void> | void>()
  private readonly startHooks = new Set<(config: OqronConfig) => Promise<void> | void>()
  private unsubscribeCancel: (() => Promise<void>) | null = null
  private stopping: Promise<void> | null = null
  /** The `init()` under way (opening adapters, starting consumers, running module start hooks), if any. */
  private initializing: Promise<void> | null = null
  private signalHandler: ((signal: NodeJS.Signals) => void) | null = null
  private shutdown: Required<ShutdownOptions> = { ...runtimeDefaults.shutdown }
  private logger: Logger = consoleLogger

  constructor() {
    // Bound so `process.on('SIGTERM', OqronKit.stop)` and destructuring work (the v0.0.1 `this` bug).
    this.init = this.init.bind(this)
    this.stop = this.stop.bind(this)
    this.getConfig = this.getConfig.bind(this)
  }

  get isRunning(): boolean {
    return this.state === 'running'
  }

  /** Fenced writes of this runtime that the backend refused (zombie writes stopped). */
  get staleWrites(): number {
    return this.engine?.staleWrites ?? 0
  }

  /** Jobs running in this runtime now. */
  get activeJobs(): number {
    let n = 0
    for (const c of this.consumers.values()) n += c.runningCount
    return n
  }

  on<E extends OqronEventName>(event: E, listener: OqronListener<E>): () => void {
    return this.events.on(event, listener)
  }

  once<E extends OqronEventName>(event: E, listener: OqronListener<E>): () => void {
    return this.events.once(event, listener)
  }

  off<E extends OqronEventName>(event: E, listener: OqronListener<E>): void {
    this.events.off(event, listener)
  }

  async init(options: RuntimeOptions = {}): Promise<void> {
    if (this.state !== 'idle') {
      throw new OqronConfigError('This runtime is already initialized; call stop() before init() again.')
    }
    const initializing = this.doInit(options)
    this.initializing = initializing
    try {
      await initializing
    } finally {
      if (this.initializing === initializing) this.initializing = null
    }
  }

  private async doInit(options: RuntimeOptions): Promise<void> {
    const project = options.project ?? runtimeDefaults.project
    const environment = options.environment ?? runtimeDefaults.environment
    for (const [field, value] of [
      ['project', project],
      ['environment', environment],
    ] as const) {
      if (typeof value !== 'string' || !NAME_RE.test(value)) {
        throw new OqronConfigError(
          `${field} must be 1-128 characters of letters, digits, _ . : -, got "${value}".`,
          {
            field,
          },
        )
      }
    }
    const timeoutMs = options.shutdown?.timeoutMs ?? runtimeDefaults.shutdown.timeoutMs
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new OqronConfigError('shutdown.timeoutMs must be a non-negative integer.', {
        field: 'shutdown.timeoutMs',
      })
    }
    // "Wait for ever" as Number.MAX_SAFE_INTEGER would otherwise fire at once and release every job.
    assertTimerMs(timeoutMs, 'shutdown.timeoutMs')
    const pollIntervalMs = options.pollIntervalMs ?? runtimeDefaults.pollIntervalMs
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 1) {
      throw new OqronConfigError('pollIntervalMs must be a positive integer.', { field: 'pollIntervalMs' })
    }
    assertTimerMs(pollIntervalMs, 'pollIntervalMs')
    const signals = options.shutdown?.signals ?? true
    if (typeof signals !== 'boolean') {
      throw new OqronConfigError(`shutdown.signals must be true or false, got ${JSON.stringify(signals)}.`, {
        field: 'shutdown.signals',
      })
    }
    const { workerId } = options
    if (workerId !== undefined && (typeof workerId !== 'string' || workerId.length === 0)) {
      throw new OqronConfigError('workerId must be a non-empty string.', {
        field: 'workerId',
      })
    }
    const adapters = options.adapters ?? defaultAdapterFactory?.()
    if (!adapters) {
      throw new OqronConfigError(
        'No adapters: pass init({ adapters: memoryAdapter() }) from @oqronkit/memory (or redisAdapter / postgresAdapter), or import from the `oqronkit` package, which defaults to memory.',
        { field: 'adapters' },
      )
    }
    this.state = 'starting'
    this.logger = options.logger ?? consoleLogger
    this.shutdown = { timeoutMs, signals }
    try {
      await openAdapters(adapters)
      const ns = `${project}/${environment}`
      this.engine = {
        adapters,
        ns,
        workerId: workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
        timers: options.timers ?? realTimers,
        events: this.events,
        logger: this.logger,
        pollIntervalMs,
        staleWrites: 0,
        now: options.clock ?? Date.now,
      }
      this.config = { runtime: this, adapters, ns, project, environment }
      this.unsubscribeCancel = await adapters.broker.onCancel(ns, (jobId) => this.abortCancelled(jobId))
    } catch (error) {
      this.state = 'idle'
      this.engine = null
      this.config = null
      await closeAdapters(adapters).catch(() => {})
      throw error
    }
    this.state = 'running'
    for (const def of this.consumerDefs.values()) this.startConsumer(def)
    if (this.shutdown.signals) this.installSignals()
    // Modules start last, on a running runtime, so their first pass can already enqueue.
    for (const hook of this.startHooks) {
      try {
        await hook(this.config!)
      } catch (error) {
        this.events.emit('error', { error, where: 'module start hook' })
      }
    }
  }

  /** The live configuration, for `OqronManager.from()` and modules. */
  getConfig(): OqronConfig {
    if (!this.config || this.state === 'idle') throw new NotInitializedError('OqronKit.getConfig()')
    return this.config
  }

  get workerId(): string | null {
    return this.engine?.workerId ?? null
  }

  /**
   * Graceful shutdown (invariant 7): stop claiming in every module, wait for active jobs up to
   * `shutdown.timeoutMs`, release the leases of unfinished ones so another node takes them at once,
   * run module stop hooks (locks, leaders), stop listening, close adapters no other runtime uses.
   */
  stop(): Promise<void> {
    if (this.state === 'idle' && !this.initializing) return this.stopping ?? Promise.resolve()
    if (!this.stopping) this.stopping = this.stopAfterInit().finally(() => (this.stopping = null))
    return this.stopping
  }

  /**
   * A stop() that comes while init() is under way (a signal during start-up) waits for it, then stops what it
   * started: torn down under init's feet, the runtime would be left running with its engine gone.
   */
  private async stopAfterInit(): Promise<void> {
    if (this.initializing) await this.initializing.catch(() => {})
    if (this.state === 'idle') return
    await this.doStop()
  }

  private async doStop(): Promise<void> {
    this.state = 'stopping'
    const engine = this.engine!
    const consumers = [...this.consumers.values()]
    await Promise.all(consumers.map((c) => c.stopClaiming()))
    const unfinished = () => consumers.flatMap((c) => [...c.runs.values()])
    let runs = unfinished()
    if (runs.length > 0) {
      let timer: unknown = null
      let expired = false
      const timedOut = new Promise<void>((resolve) => {
        timer = engine.timers.setTimeout(() => {
          expired = true
          resolve()
        }, this.shutdown.timeoutMs)
      })
      // A completion on its way when claiming stopped may still hand its slot a next job (completeAndClaim):
      // that job started here too, so it drains like the rest. Claims stopped, so this ends.
      while (runs.length > 0 && !expired) {
        await Promise.race([Promise.allSettled(runs.map((r) => r.done)), timedOut])
        runs = unfinished()
      }
      engine.timers.clearTimeout(timer)
    }
    // Also closes each consumer: a job a completion still on its way claims from now on is given back.
    await Promise.all(consumers.map((c) => c.releaseAll()))
    await Promise.all(consumers.map((c) => c.sweep()))
    for (const hook of this.stopHooks) {
      try {
        await hook()
      } catch (error) {
        this.logger.error('a module stop hook failed', error)
      }
    }
    try {
      await this.unsubscribeCancel?.()
    } catch (error) {
      this.logger.error('unsubscribing from cancellations failed', error)
    }
    this.removeSignals()
    this.consumers.clear()
    this.consumerDefs.clear()
    this.registrations.clear()
    this.stopHooks.clear()
    this.startHooks.clear()
    this.unsubscribeCancel = null
    const adapters = engine.adapters
    this.engine = null
    this.config = null
    this.state = 'idle'
    await closeAdapters(adapters)
  }

  /**
   * Claim a definition name for a module. Throws `DuplicateDefinitionError` if `name` is taken. `queue` is
   * the engine queue behind it (the name itself for `queue()`, a prefixed one for other modules).
   */
  register(kind: string, name: string, queue: string): void {
    assertName(kind, name)
    const key = `${kind}:${name}`
    if (this.registrations.has(key)) throw new DuplicateDefinitionError(kind, name)
    this.registrations.set(key, { kind, name, queue })
  }

  /** Release a definition name (a module that is torn down before `stop()`). */
  unregister(kind: string, name: string): void {
    this.registrations.delete(`${kind}:${name}`)
  }

  /**
   * Define a module instance in one step: claim its name and, with `consumer`, run its handler for jobs of
   * `queue` in this runtime. Throws `DuplicateDefinitionError` and leaves nothing registered on failure.
   */
  define(definition: {
    kind: string
    name: string
    queue: string
    consumer?: Pick<ConsumerDefinition, 'handler' | 'options'>
  }): void {
    const { kind, name, queue, consumer } = definition
    this.register(kind, name, queue)
    if (!consumer) return
    try {
      this.addConsumer({ kind, name, queue, ...consumer })
    } catch (error) {
      this.unregister(kind, name)
      throw error
    }
  }

  /** Run `definition.handler` for jobs of `definition.queue` in this runtime (now, or from `init()`). */
  addConsumer(definition: ConsumerDefinition): void {
    if (this.consumerDefs.has(definition.queue)) {
      throw new DuplicateDefinitionError('consumer of queue', definition.queue)
    }
    this.consumerDefs.set(definition.queue, definition)
    if (this.state === 'running') this.startConsumer(definition)
  }

  /**
   * The engine queue behind a module instance name, if one is registered here. A name that is itself the engine
   * queue of a registration means that queue: names are unique per kind only, so a queue "cleanup" and a cron
   * "cleanup" (queue "cron:cleanup") may both exist, and the queue's own handle passes "cleanup".
   */
  resolveQueue(name: string): string | null {
    let byName: string | null = null
    for (const r of this.registrations.values()) {
      if (r.queue === name) return name
      if (byName === null && r.name === name) byName = r.queue
    }
    return byName
  }

  /** Run `hook` at every `init()` (now, if already running). Modules use it to start leaders and timers. */
  onStart(hook: (config: OqronConfig) => Promise<void> | void): void {
    this.startHooks.add(hook)
    if (this.state === 'running' && this.config)
      void Promise.resolve(hook(this.config)).catch((error) => {
        this.events.emit('error', { error, where: 'module start hook' })
      })
  }

  /** Run `hook` during `stop()`, after jobs drained: release locks, stop timers. */
  onStop(hook: () => Promise<void> | void): void {
    this.stopHooks.add(hook)
  }

  /** Validate and store one job. Bad input throws before anything is written. */
  async enqueue(
    queue: string,
    data: unknown,
    options: EnqueueOptions,
    defaults: EnqueueDefaults,
  ): Promise<AddedJob> {
    const [added] = await this.enqueueBulk(queue, [{ data, options }], defaults)
    return added!
  }

  async enqueueBulk(
    queue: string,
    items: { data: unknown; options?: EnqueueOptions }[],
    defaults: EnqueueDefaults,
  ): Promise<AddedJob[]> {
    if (!Array.isArray(items)) throw new OqronConfigError('addBulk() takes an array of { data, options }.')
    // Array.from visits the holes of a sparse array too (map would skip them and leave holes in `jobs`).
    const jobs = Array.from(items, (item, i) => {
      if (item === null || typeof item !== 'object') {
        throw new OqronConfigError(`addBulk(): item [${i}] must be an object { data, options? }.`)
      }
      return toNewJob(queue, item.data, item.options ?? {}, defaults, items.length > 1 ? i : null)
    })
    if (this.state !== 'running' || !this.engine) throw new NotInitializedError(`add() to "${queue}"`)
    const tx = items[0]?.options?.tx
    if (items.some((item) => item.options?.tx !== tx)) {
      throw new OqronConfigError('addBulk(): every item must use the same tx (or none).', { field: 'tx' })
    }
    const addOptions = tx === undefined ? undefined : { tx }
    const { broker } = this.engine.adapters
    const results =
      jobs.length === 1
        ? [await broker.add(this.engine.ns, jobs[0]!, addOptions)]
        : await broker.addBulk(this.engine.ns, jobs, addOptions)
    return results.map((result, i) => {
      if (result.outcome === 'rejected') throw new ModuleDisabledError(queue)
      // Inside a caller's transaction the job may still roll back: `added` is only said of committed adds.
      if ((result.outcome === 'created' || result.outcome === 'held') && tx === undefined) {
        this.events.emit('added', { job: result.job! })
      }
      return { id: jobs[i]!.id, outcome: result.outcome, job: result.job }
    })
  }

  /** Internal: the started engine, for modules and the manager. */
  engineContext(): EngineContext {
    if (!this.engine) throw new NotInitializedError('this operation')
    return this.engine
  }

  private startConsumer(def: ConsumerDefinition): void {
    const consumer = new QueueConsumer(this.engine!, def)
    this.consumers.set(def.queue, consumer)
    consumer.start()
  }

  /**
   * Abort a locally running job that was cancelled on any node. True if this runtime runs the job and has
   * reported the cancellation (now, or already: the manager's local abort and the broker's notification of the
   * same cancel both arrive here, and `cancelled` is emitted once).
   */
  abortCancelled(jobId: string): boolean {
    for (const consumer of this.consumers.values()) {
      const run = consumer.runs.get(jobId)
      if (!run) continue
      if (run.cancelled) return true
      if (!run.aborted) {
        run.abort(new JobCancelledError(jobId))
        this.events.emit('cancelled', { jobId, queue: run.job.queue })
        return true
      }
    }
    return false
  }

  private installSignals(): void {
    const handler = (signal: NodeJS.Signals) => {
      if (this.stopping) {
        this.logger.warn(`second ${signal}: forcing exit`)
        process.exit(signal === 'SIGINT' ? 130 : 143)
      }
      void this.stop().then(
        () => {
          // We took over the signal's default action, so end the process unless someone else listens.
          if (process.listenerCount('SIGTERM') === 0 && process.listenerCount('SIGINT') === 0) process.exit(0)
        },
        (error) => {
          this.logger.error('graceful stop failed', error)
          process.exit(1)
        },
      )
    }
    this.signalHandler = handler
    process.on('SIGINT', handler)
    process.on('SIGTERM', handler)
  }

  private removeSignals(): void {
    if (!this.signalHandler) return
    // Removed only once the process is about to exit on its own or by our hand: a second signal during
    // the drain must still reach the handler above to force the exit.
    process.off('SIGINT', this.signalHandler)
    process.off('SIGTERM', this.signalHandler)
    this.signalHandler = null
  }
}

/** The default runtime the seed's code uses. */
export const OqronKit = new OqronRuntime()
