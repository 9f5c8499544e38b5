import {
  type AddedJob,
  type EnqueueDefaults,
  type EnqueueOptions,
  type JobHandler,
  type JobPage,
  type JobRecord,
  type JobStatus,
  ModuleHandle,
  OqronConfigError,
  OqronKit,
  type OqronRuntime,
  type ResolvedWorkOptions,
  resolveWorkOptions,
  type WorkOptions,
} from '@oqronkit/core'

export interface QueueOptions<Data = unknown, Result = unknown> extends WorkOptions {
  /** Unique per runtime; also the queue's name in storage. */
  name: string
  /** With a handler the queue also consumes its jobs in this runtime; without, it only publishes. */
  handler?: JobHandler<Data, Result>
  /** @default OqronKit */
  runtime?: OqronRuntime
}

export interface WorkerOptions<Data = unknown, Result = unknown> extends WorkOptions {
  /** The queue to consume, usually defined elsewhere with `queue({ name })` (without a handler). */
  topic: string
  handler: JobHandler<Data, Result>
  /** @default OqronKit */
  runtime?: OqronRuntime
}

/** The seed's table: queue() and worker() hold heartbeat leases unless `guaranteedWorker: false`. */
export const queueDefaults = { guaranteedWorker: true } satisfies Partial<WorkOptions>

export interface GetJobsOptions {
  status?: JobStatus
  /** @default 50 */
  limit?: number
  cursor?: string | null
}

/** A named queue: add jobs, inspect them; `pause`, `disable`, `count` and friends come from ModuleHandle. */
export class Queue<Data = unknown, Result = unknown> extends ModuleHandle {
  /** @internal */
  constructor(
    readonly name: string,
    runtime: OqronRuntime,
    private readonly options: ResolvedWorkOptions,
  ) {
    super(runtime, name)
  }

  private get defaults(): EnqueueDefaults {
    return {
      maxAttempts: this.options.retries.max + 1,
      guaranteed: this.options.guaranteedWorker,
      disabledBehavior: this.options.disabledBehavior,
    }
  }

  /**
   * Store one job. With `jobId`, a second add of the same id returns the first job (`outcome: 'duplicate'`).
   * While the queue is disabled, `hold` stores it `paused`, `skip` stores nothing (`outcome: 'skipped'`),
   * `reject` throws `ModuleDisabledError`. Unserializable data throws and stores nothing.
   */
  add(data: Data, options: EnqueueOptions = {}): Promise<AddedJob<Data, Result>> {
    return this.runtime.enqueue(this.name, data, options, this.defaults) as Promise<AddedJob<Data, Result>>
  }

  /** Store many jobs; each add is atomic on its own. All data is validated before anything is stored. */
  addBulk(items: { data: Data; options?: EnqueueOptions }[]): Promise<AddedJob<Data, Result>[]> {
    return this.runtime.enqueueBulk(this.name, items, this.defaults) as Promise<AddedJob<Data, Result>[]>
  }

  async getJob(id: string): Promise<JobRecord<Data, Result> | null> {
    const job = await this.manager().getJob<Data, Result>(id)
    return job && job.queue === this.name ? job : null
  }

  /** Jobs of this queue, newest first, one page at a time. */
  getJobs(options: GetJobsOptions = {}): Promise<JobPage> {
    return this.manager().listJobs({ ...options, queue: this.name })
  }
}

function checkHandler(where: string, handler: unknown, required: boolean): void {
  if (handler === undefined && !required) return
  if (typeof handler !== 'function') {
    throw new OqronConfigError(`${where}.handler must be a function (ctx) => result.`, {
      field: `${where}.handler`,
    })
  }
}

/**
 * Define a queue. With `handler` it also consumes in this runtime (`concurrency` at once, heartbeat leases
 * unless `guaranteedWorker: false`); without, it only publishes. Works before or after `init()`.
 */
export function queue<Data = unknown, Result = unknown>(
  options: QueueOptions<Data, Result>,
): Queue<Data, Result> {
  if (!options || typeof options !== 'object') throw new OqronConfigError('queue() takes an options object.')
  const runtime = options.runtime ?? OqronKit
  const where = `queue "${String(options.name)}"`
  checkHandler(where, options.handler, false)
  const resolved = resolveWorkOptions(where, options, queueDefaults, (m) => console.warn(`[oqronkit] ${m}`))
  runtime.define({
    kind: 'queue',
    name: options.name,
    queue: options.name,
    consumer: options.handler ? { handler: options.handler, options: resolved } : undefined,
  })
  return new Queue<Data, Result>(options.name, runtime, resolved)
}

export interface Worker {
  readonly topic: string
}

/** Consume the queue `topic` in this runtime. Works before or after `init()`. */
export function worker<Data = unknown, Result = unknown>(options: WorkerOptions<Data, Result>): Worker {
  if (!options || typeof options !== 'object') throw new OqronConfigError('worker() takes an options object.')
  const runtime = options.runtime ?? OqronKit
  const where = `worker "${String(options.topic)}"`
  checkHandler(where, options.handler, true)
  const resolved = resolveWorkOptions(where, options, queueDefaults, (m) => console.warn(`[oqronkit] ${m}`))
  runtime.define({
    kind: 'worker',
    name: options.topic,
    queue: options.topic,
    consumer: { handler: options.handler, options: resolved },
  })
  return { topic: options.topic }
}
