import type { WorkOptions } from '@oqronkit/core'

/** How a child process builds its adapters: `(await import(module))[export](options)`. */
export interface ChildAdapterConfig {
  /** Absolute path or `file:` URL of the module (TypeScript runs through tsx). Resolve it yourself, e.g. `fileURLToPath(new URL('./adapters.ts', import.meta.url))`. */
  module: string
  /** The export: `(options) => OqronAdapters | Promise<OqronAdapters>`. @default 'default' */
  export?: string
  /** JSON handed to that function, e.g. `{ url, prefix }`. @default {} */
  options?: unknown
  /** Node flags of the child. @default ['--conditions=source', '--import', <tsx>] (tsx resolved from the testkit); [] if tsx is not installed */
  execArgv?: string[]
  /** Extra environment of the child, on top of this process's. @default {} */
  env?: Record<string, string>
}

/** JSON-safe subset of `WorkOptions` a child worker's consumer runs with. */
export type ChildWorkOptions = Pick<
  WorkOptions,
  | 'guaranteedWorker'
  | 'heartbeatMs'
  | 'lockTtlMs'
  | 'concurrency'
  | 'maxStalledCount'
  | 'stallIntervalMs'
  | 'retries'
  | 'removeOnComplete'
  | 'removeOnFail'
  | 'removeOnCancel'
>

/** A worker process: one adapter set, one or more runtimes consuming one queue. */
export interface WorkerSpec {
  adapter: ChildAdapterConfig
  /** Namespace, as `init({ project })`. @default 'default' */
  project?: string
  /** @default 'default' */
  environment?: string
  queue: string
  /** Runtimes in the process, sharing its adapter set; each can be frozen alone (memory needs two). @default ['main'] */
  runtimes?: string[]
  /** @default { heartbeatMs: 200, lockTtlMs: 1500, stallIntervalMs: 250 } */
  work?: ChildWorkOptions
  /** How long the handler runs when the job data has no `durationMs`, ms. @default 0 */
  durationMs?: number
  /** Names the process in events. @default `worker-<n>` */
  name?: string
}

/** What the harness hears from its children, stamped with the child's `Date.now()`. */
export type HarnessEvent =
  | {
      type: 'started'
      worker: string
      pid: number
      runtime: string
      jobId: string
      attempt: number
      at: number
    }
  | {
      type: 'finished'
      worker: string
      pid: number
      runtime: string
      jobId: string
      at: number
      /** The handler's signal was aborted (lease lost, cancelled, shutdown). */
      aborted: boolean
      reason: string | null
    }
  | {
      type: 'event'
      worker: string
      pid: number
      runtime: string
      /** A runtime event: `completed` means the backend accepted the completion; `lease-lost` a fenced write was refused. */
      name: 'completed' | 'failed' | 'retrying' | 'stalled' | 'lease-lost' | 'cancelled' | 'error'
      jobId: string | null
      at: number
      detail: string | null
    }

export type ParentMessage =
  | { type: 'init'; spec: WorkerSpec & { name: string }; mode: 'worker' | 'close-check'; ns?: string }
  | {
      type: 'add'
      reqId: number
      runtime: string | null
      jobs: { jobId: string; data?: unknown; delay?: number }[]
    }
  | { type: 'freeze'; reqId: number; runtime: string }
  | { type: 'thaw'; reqId: number; runtime: string }
  | { type: 'stop'; reqId: number }

export type ChildMessage =
  | { type: 'ready'; pid: number; workerIds: Record<string, string> }
  | { type: 'fatal'; message: string }
  | { type: 'reply'; reqId: number; ok: boolean; error?: string; value?: unknown }
  | { type: 'closed' }
  | { type: 'harness'; event: HarnessEvent }
