/**
 * Every error OqronKit throws is an `OqronError`. Each subclass sets `name`, keeps `cause`, carries the
 * fields a caller needs to react, and says in its message what to do.
 */
export class OqronError extends Error {
  /** Stable machine-readable code, e.g. `OQRON_CONFIG`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Options that cannot work together, a missing field, a bad value. Thrown before anything is written. */
export class OqronConfigError extends OqronError {
  readonly field: string | undefined

  constructor(message: string, options?: { field?: string; cause?: unknown }) {
    super('OQRON_CONFIG', message, options)
    this.field = options?.field
  }
}

/** Two definitions with one name in one runtime (two `queue({ name: 'x' })`, two workers on one topic). */
export class DuplicateDefinitionError extends OqronError {
  readonly definition: string

  constructor(kind: string, name: string) {
    super(
      'OQRON_DUPLICATE_DEFINITION',
      `${kind} "${name}" is already defined in this runtime. Give each definition a unique name, or reuse the existing one.`,
    )
    this.definition = name
  }
}

/** Job data that cannot be stored as JSON (a cycle, a BigInt, a function, a Map...). Nothing was stored. */
export class UnserializableDataError extends OqronError {
  readonly path: string

  constructor(path: string, reason: string) {
    super(
      'OQRON_UNSERIALIZABLE',
      `Job data at ${path} ${reason}. Job data must be JSON-serializable (plain objects, arrays, strings, finite numbers, booleans, null); nothing was stored.`,
    )
    this.path = path
  }
}

/** A method that needs a running runtime was called before `init()` or after `stop()`. */
export class NotInitializedError extends OqronError {
  constructor(what: string) {
    super('OQRON_NOT_INITIALIZED', `${what} needs a running runtime: call await OqronKit.init() first.`)
  }
}

/** `add()` on a module that is disabled with `disabledBehavior: 'reject'`. Nothing was stored. */
export class ModuleDisabledError extends OqronError {
  readonly module: string

  constructor(module: string) {
    super(
      'OQRON_DISABLED',
      `"${module}" is disabled and rejects new jobs (disabledBehavior: 'reject'). Enable it with OqronManager.enable('${module}') or retry later.`,
    )
    this.module = module
  }
}

/** A worker's write about a job was refused because its lease token is no longer the live one. */
export class LeaseLostError extends OqronError {
  readonly jobId: string

  constructor(jobId: string, detail = 'its lease expired and another worker owns the job now') {
    super('OQRON_LEASE_LOST', `Job ${jobId}: ${detail}. The result of this run was discarded.`)
    this.jobId = jobId
  }
}

/** The reason given to `ctx.signal` when the job was cancelled through `OqronManager.cancelJob`. */
export class JobCancelledError extends OqronError {
  readonly jobId: string

  constructor(jobId: string) {
    super('OQRON_CANCELLED', `Job ${jobId} was cancelled.`)
    this.jobId = jobId
  }
}

/** The reason given to `ctx.signal` when the runtime stops before the handler finished. */
export class ShutdownError extends OqronError {
  constructor() {
    super('OQRON_SHUTDOWN', 'The runtime is stopping; the job was released so another worker can take it.')
  }
}

/** A job id that does not exist in this namespace. */
export class JobNotFoundError extends OqronError {
  readonly jobId: string

  constructor(jobId: string) {
    super('OQRON_JOB_NOT_FOUND', `No job with id "${jobId}" exists in this project/environment.`)
    this.jobId = jobId
  }
}

/** An operation that the job's current status does not allow (retrying a job that is still active...). */
export class JobStateError extends OqronError {
  readonly jobId: string
  readonly status: string

  constructor(jobId: string, status: string, action: string) {
    super('OQRON_JOB_STATE', `Cannot ${action} job "${jobId}" while it is ${status}.`)
    this.jobId = jobId
    this.status = status
  }
}

/** An adapter failed (connection, script, schema). Wraps the driver error as `cause`. */
export class AdapterError extends OqronError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OQRON_ADAPTER', message, options)
  }
}
