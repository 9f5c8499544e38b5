import { assertPageLimit, type JobPage } from './contracts.js'
import { JobNotFoundError, JobStateError, OqronConfigError } from './errors.js'
import { JOB_STATUSES, type JobRecord, type JobStatus } from './job.js'
import type { OqronConfig } from './runtime.js'

export interface ListJobsOptions {
  queue?: string
  status?: JobStatus
  /** @default 50 */
  limit?: number
  cursor?: string | null
}

/**
 * Operations on jobs and modules of one namespace, from any node: inspect, cancel, retry, pause, disable.
 * State lives in storage, so every node sees the effect.
 */
export class OqronManager {
  static from(config: OqronConfig): OqronManager {
    if (!config?.adapters || typeof config.ns !== 'string') {
      throw new OqronConfigError('OqronManager.from() needs OqronKit.getConfig() of an initialized runtime.')
    }
    return new OqronManager(config)
  }

  private constructor(private readonly config: OqronConfig) {}

  private get ns(): string {
    return this.config.ns
  }

  async getJob<Data = unknown, Result = unknown>(id: string): Promise<JobRecord<Data, Result> | null> {
    assertId(id)
    return (await this.config.adapters.storage.getJob(this.ns, id)) as JobRecord<Data, Result> | null
  }

  async listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    const limit = options.limit ?? 50
    assertPageLimit(limit)
    if (options.status !== undefined && !JOB_STATUSES.includes(options.status)) {
      throw new OqronConfigError(`status must be one of ${JOB_STATUSES.join(', ')}.`, { field: 'status' })
    }
    return this.config.adapters.storage.listJobs(this.ns, { ...options, limit })
  }

  /**
   * Cancel a job: a `cancelled` tombstone is written (record kept), the handler is aborted on whichever
   * node runs it, and it never runs again. Returns false if the job had already finished.
   * Throws `JobNotFoundError` for an unknown id.
   */
  async cancelJob(id: string): Promise<boolean> {
    assertId(id)
    const outcome = await this.config.adapters.broker.cancel(this.ns, id)
    if (!outcome) throw new JobNotFoundError(id)
    // The broker notifies every node; the local abort saves the notification's hop when we run it here.
    if (outcome.cancelled && !this.config.runtime.abortCancelled(id)) {
      this.config.runtime.events.emit('cancelled', { jobId: id, queue: outcome.job.queue })
    }
    return outcome.cancelled
  }

  /** Run a `failed` or `cancelled` job again from attempt 1. */
  async retryJob(id: string): Promise<JobRecord> {
    assertId(id)
    const current = await this.config.adapters.storage.getJob(this.ns, id)
    if (!current) throw new JobNotFoundError(id)
    if (current.status !== 'failed' && current.status !== 'cancelled') {
      throw new JobStateError(id, current.status, 'retry')
    }
    const job = await this.config.adapters.broker.retry(this.ns, id)
    if (!job) throw new JobNotFoundError(id)
    if (job.status !== 'waiting' && job.status !== 'delayed') throw new JobStateError(id, job.status, 'retry')
    return job
  }

  async removeJob(id: string): Promise<boolean> {
    assertId(id)
    return this.config.adapters.storage.removeJob(this.ns, id)
  }

  async pauseQueue(queue: string): Promise<void> {
    await this.config.adapters.broker.pause(this.ns, this.queueOf(queue))
  }

  async resumeQueue(queue: string): Promise<void> {
    await this.config.adapters.broker.resume(this.ns, this.queueOf(queue))
  }

  async isPaused(queue: string): Promise<boolean> {
    return this.config.adapters.broker.isPaused(this.ns, this.queueOf(queue))
  }

  /** Disable a module instance on every node: adds follow its `disabledBehavior`, nothing is claimed. */
  async disable(name: string): Promise<void> {
    await this.config.adapters.broker.setDisabled(this.ns, this.queueOf(name), true)
  }

  /** Enable it again: held jobs become waiting and run. */
  async enable(name: string): Promise<void> {
    await this.config.adapters.broker.setDisabled(this.ns, this.queueOf(name), false)
  }

  async isDisabled(name: string): Promise<boolean> {
    return this.config.adapters.broker.isDisabled(this.ns, this.queueOf(name))
  }

  async countJobs(queue: string): Promise<Record<JobStatus, number>> {
    return this.config.adapters.storage.countJobs(this.ns, this.queueOf(queue))
  }

  private queueOf(name: string): string {
    if (typeof name !== 'string' || name.length === 0) {
      throw new OqronConfigError('A queue or module name is required.', { field: 'name' })
    }
    return this.config.runtime.resolveQueue(name) ?? name
  }
}

function assertId(id: unknown): void {
  if (typeof id !== 'string' || id.length === 0)
    throw new OqronConfigError('A job id is required.', { field: 'id' })
}
