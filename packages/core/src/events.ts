import type { JobError, JobRecord } from './job.js'

/** Lifecycle events a runtime emits about the jobs it adds, runs or recovers. */
export interface OqronEvents {
  added: { job: JobRecord }
  active: { job: JobRecord; workerId: string }
  progress: { jobId: string; queue: string; progress: number; label: string | null }
  completed: { job: JobRecord; result: unknown }
  failed: { job: JobRecord; error: JobError; final: boolean }
  retrying: { job: JobRecord; error: JobError; delayMs: number }
  /** This runtime's stall detector recovered (or poison-failed) a job whose lease expired. */
  stalled: { job: JobRecord; action: 'requeued' | 'failed' }
  cancelled: { jobId: string; queue: string | null }
  /** A fenced write of this runtime was rejected, or its lease could not be renewed: the run is void. */
  'lease-lost': { jobId: string; queue: string; workerId: string; reason: string }
  /** An internal failure (adapter unreachable...). The runtime keeps going and retries. */
  error: { error: unknown; where: string }
}

export type OqronEventName = keyof OqronEvents
export type OqronListener<E extends OqronEventName> = (payload: OqronEvents[E]) => void

/** A small typed emitter. A listener that throws never breaks the engine. */
export class TypedEmitter {
  private readonly listeners = new Map<OqronEventName, Set<(payload: never) => void>>()

  on<E extends OqronEventName>(event: E, listener: OqronListener<E>): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(listener as (payload: never) => void)
    return () => this.off(event, listener)
  }

  once<E extends OqronEventName>(event: E, listener: OqronListener<E>): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  off<E extends OqronEventName>(event: E, listener: OqronListener<E>): void {
    this.listeners.get(event)?.delete(listener as (payload: never) => void)
  }

  hasListeners(event: OqronEventName): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0
  }

  emit<E extends OqronEventName>(event: E, payload: OqronEvents[E]): void {
    const set = this.listeners.get(event)
    if (!set || set.size === 0) return
    for (const listener of [...set]) {
      try {
        ;(listener as (p: OqronEvents[E]) => void)(payload)
      } catch {
        // A user's listener must not break a claim loop or a heartbeat.
      }
    }
  }

  removeAll(): void {
    this.listeners.clear()
  }
}
