import type { NewJob, OqronAdapters } from '@oqronkit/core'
import type { ChildAdapterConfig } from './crash/protocol.js'

/**
 * A backend clock the suite can move. With `backendClock: 'controllable'` the suite hands one to `create()`,
 * and the adapter must read every time it writes or compares from `clock.now()`. It follows real time plus an
 * offset, so checks that wait for real short leases still work; `advance(ms)` jumps ahead.
 */
export interface TestClock {
  now(): number
  advance(ms: number): void
}

/** What the adapter supports. The suite skips only the checks a missing capability rules out, and says so. */
export interface AdapterCapabilities {
  /**
   * `controllable`: `create()` wires `ctx.clock` in as the backend's clock (e.g. `memoryAdapter({ clock:
   * ctx.clock.now })`); checks that need hours of backend time, or a backend clock ahead of the caller's
   * `Date.now()`, run. `real`: the backend keeps its own clock (Redis `TIME`, Postgres `now()`); those checks
   * are skipped. Lease and lock expiry are checked with short real leases either way.
   * @default 'real'
   */
  backendClock?: 'real' | 'controllable'
  /** `claim` delivers higher `priority` first. @default true */
  priorities?: boolean
  /** `claim` takes `lifo` jobs before older ones of their priority. @default true */
  lifo?: boolean
  /**
   * `waitForWork` returns soon after work arrives (blocking command, pub/sub, LISTEN/NOTIFY, in-process
   * waiters), not only at its timeout. `false`: only the timeout and abort paths are checked.
   * @default true
   */
  blockingWakeups?: boolean
  /**
   * `onCancel` listeners of another adapter set on the same backend (another node) are notified. Needs
   * `connectPeer` on the fixture; without it the cross-node check is skipped.
   * @default true
   */
  pubsubCancel?: boolean
  /** The broker has the optional `completeAndClaim` member. @default false */
  completeAndClaim?: boolean
  /**
   * `complete`/`completeAndClaim` with `{ remove: true }` delete the job (the option is a hint: without
   * the capability the checks accept a kept `completed` record as well). @default false
   */
  removeOnComplete?: boolean
}

export const capabilityDefaults = {
  backendClock: 'real',
  priorities: true,
  lifo: true,
  blockingWakeups: true,
  pubsubCancel: true,
  completeAndClaim: false,
  removeOnComplete: false,
} satisfies Required<AdapterCapabilities>

export type ResolvedCapabilities = Required<AdapterCapabilities>

/** What the suite gives `create()`. */
export interface CreateContext {
  /** The clock to wire in when `backendClock: 'controllable'`; ignore it otherwise. */
  clock: TestClock
  /** A fresh random string, handy as a key prefix or schema name that isolates this adapter set. */
  id: string
}

/**
 * What `create()` may return instead of a bare adapter set.
 */
export interface AdapterFixture {
  adapters: OqronAdapters
  /**
   * A second adapter set on the same backend (its own connections), as another node would open. Used by the
   * cross-node checks (contention between nodes, cancellation pub/sub, stall recovery from another node). May
   * return the very same object when the backend lives in-process (memory). The suite opens and closes what
   * it returns (once per distinct object). @default none: cross-node checks use the one set
   */
  connectPeer?: () => OqronAdapters | Promise<OqronAdapters>
}

export interface AdapterContractOptions {
  /** Shown in the `describe` title, e.g. `redis`. */
  name: string
  /**
   * A fresh, isolated adapter set: called once per check. "Isolated" means it shares no jobs, locks or state
   * with sets of earlier checks (own key prefix, schema, or instance); the suite also uses a fresh random
   * namespace (`ns`) per check, so a backend shared by several test files stays clean. Do not call `open()`:
   * the suite calls it, as `init()` would, and calls `close()` after the check.
   */
  create: (ctx: CreateContext) => OqronAdapters | AdapterFixture | Promise<OqronAdapters | AdapterFixture>
  /** Runs after each check, after `close()`: drop the key prefix or schema. @default none */
  cleanup?: (adapters: OqronAdapters, ctx: CreateContext) => void | Promise<void>
  capabilities?: AdapterCapabilities
  /**
   * How a child process builds the same adapters (module path + export + JSON options; see
   * `@oqronkit/testkit/crash`). Given, the suite also runs the process checks: a child that closes its adapters
   * exits by itself, and, when the backend is shared across processes (`crossProcess`), kill tests with
   * `SIGKILL` and `SIGSTOP`/`SIGCONT`. @default none: process checks are skipped
   */
  process?: ChildAdapterConfig & {
    /** Several processes share the backend (every durable adapter): the kill tests run. @default true */
    crossProcess?: boolean
  }
  /** Per-check timeout, ms. Checks wait on real short leases; keep it generous on loaded CI. @default 60000 */
  timeoutMs?: number
}

/** What one check receives. Everything it opens is closed after it. */
export interface CheckContext {
  /** The adapter set under test, opened. */
  readonly adapters: OqronAdapters
  /** A fresh namespace (`<project>/<environment>`) no other check uses. */
  readonly ns: string
  /** A fresh queue name. */
  readonly queue: string
  readonly capabilities: ResolvedCapabilities
  /** The controllable clock; null with `backendClock: 'real'`. */
  readonly clock: TestClock | null
  readonly options: AdapterContractOptions
  /** Another fresh namespace, for isolation checks. */
  otherNs(): string
  /** A second adapter set on the same backend (opened), or `adapters` itself when the fixture has no peer. */
  peer(): Promise<OqronAdapters>
  /** Whether `peer()` returns a set of its own (the fixture has `connectPeer`). */
  readonly hasPeer: boolean
  /** A complete `NewJob` for `queue` with a fresh id. */
  job(overrides?: Partial<NewJob>): NewJob
  /** Run `fn` after the check, before the adapters close (last registered, first run). */
  defer(fn: () => unknown): void
}

/** One contract requirement, runnable on its own. */
export interface ContractCheck {
  /** Stable id, `<concern>.<name>`, e.g. `fencing.complete`. */
  id: string
  /** What must hold, as a sentence. */
  title: string
  /** Why the check cannot run for these options (a capability rules it out), or null when it can. */
  skip?: (capabilities: ResolvedCapabilities, options: AdapterContractOptions) => string | null
  /** @default the suite's timeoutMs */
  timeoutMs?: number
  run(t: CheckContext): Promise<void>
}
