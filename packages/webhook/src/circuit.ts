import type { StorageAdapter } from '@oqronkit/core'
import { CircuitOpenError } from './errors.js'

export interface CircuitBreakerOptions {
  /** Consecutive failed attempts (network error, timeout, 408, 5xx) that open the circuit. @default 5 */
  failureThreshold?: number
  /** How long an open circuit refuses requests before one probe may go through, ms. @default 30000 */
  resetTimeoutMs?: number
}

export const circuitDefaults = {
  failureThreshold: 5,
  resetTimeoutMs: 30_000,
} satisfies Required<CircuitBreakerOptions>

/** Stored under the endpoint's state key, shared by every node. Absent means closed with no failures. */
interface CircuitState {
  failures: number
  /** Set while open: no request before this time (ms). */
  openUntil: number | null
  /** Half-open: the run allowed to probe, and until when its claim holds (a crashed probe expires). */
  probe: { by: string; until: number } | null
}

const CAS_TRIES = 8

/**
 * A per-endpoint circuit breaker whose state lives in storage (`compareAndSetState`), so every node sees
 * one circuit. Closed: requests go. After `failureThreshold` consecutive failures: open, requests are
 * refused for `resetTimeoutMs`. Then half-open: exactly one run (won by compare-and-set) probes; its
 * success closes the circuit, its failure opens it again. Times are the nodes' clocks: skew only moves
 * when a circuit half-opens, it never lets two probes through at once.
 */
export class CircuitBreaker {
  constructor(
    private readonly storage: StorageAdapter,
    private readonly ns: string,
    private readonly key: string,
    private readonly endpointId: string,
    private readonly options: Required<CircuitBreakerOptions>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws `CircuitOpenError` when this run may not send. `runId` identifies the run for a probe. */
  async before(runId: string, probeMs: number): Promise<void> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const state = await this.storage.getState<CircuitState>(this.ns, this.key)
      if (!state || state.openUntil === null) return
      const now = this.now()
      if (now < state.openUntil) throw new CircuitOpenError(this.endpointId, state.openUntil - now)
      if (state.probe && state.probe.until > now && state.probe.by !== runId) {
        throw new CircuitOpenError(this.endpointId, Math.max(1_000, state.probe.until - now))
      }
      const next: CircuitState = { ...state, probe: { by: runId, until: now + probeMs } }
      if (await this.storage.compareAndSetState(this.ns, this.key, state, next)) return
    }
    throw new CircuitOpenError(this.endpointId, 1_000)
  }

  async success(): Promise<void> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const state = await this.storage.getState<CircuitState>(this.ns, this.key)
      if (!state) return
      if (await this.storage.compareAndSetState(this.ns, this.key, state, null)) return
    }
  }

  /** Record a failure; returns true if the circuit is open now. */
  async failure(): Promise<boolean> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const state = await this.storage.getState<CircuitState>(this.ns, this.key)
      const failures = (state?.failures ?? 0) + 1
      const halfOpen = state?.openUntil != null
      const open = halfOpen || failures >= this.options.failureThreshold
      const next: CircuitState = {
        failures,
        openUntil: open ? this.now() + this.options.resetTimeoutMs : null,
        probe: null,
      }
      if (await this.storage.compareAndSetState(this.ns, this.key, state, next)) return open
    }
    return false
  }
}
