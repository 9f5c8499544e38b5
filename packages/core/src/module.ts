import type { JobStatus } from './job.js'
import { OqronManager } from './manager.js'
import type { OqronRuntime } from './runtime.js'

/**
 * What every module's handle shares (a queue, a webhook dispatcher...): the controls of the engine queue
 * behind it. State lives in storage, so each call acts on every node.
 */
export class ModuleHandle {
  constructor(
    protected readonly runtime: OqronRuntime,
    /** The engine queue behind this module instance. */
    readonly queue: string,
  ) {}

  /** Jobs per status. */
  count(): Promise<Record<JobStatus, number>> {
    return this.manager().countJobs(this.queue)
  }

  /** Stop delivering on every node (running jobs finish); adds are still accepted. */
  pause(): Promise<void> {
    return this.manager().pauseQueue(this.queue)
  }

  resume(): Promise<void> {
    return this.manager().resumeQueue(this.queue)
  }

  isPaused(): Promise<boolean> {
    return this.manager().isPaused(this.queue)
  }

  /** Disable on every node: adds follow `disabledBehavior`, nothing runs until `enable()`. */
  disable(): Promise<void> {
    return this.manager().disable(this.queue)
  }

  /** Enable again: held jobs become waiting and run. */
  enable(): Promise<void> {
    return this.manager().enable(this.queue)
  }

  isDisabled(): Promise<boolean> {
    return this.manager().isDisabled(this.queue)
  }

  protected manager(): OqronManager {
    return OqronManager.from(this.runtime.getConfig())
  }
}
