import { describe, it } from 'vitest'
import { resolveCapabilities, runContractCheck } from './context.js'
import { addChecks } from './suite/add.js'
import { cancelChecks } from './suite/cancel.js'
import { claimChecks } from './suite/claim.js'
import { closingChecks } from './suite/closing.js'
import { completeAndClaimChecks } from './suite/complete-and-claim.js'
import { crashChecks } from './suite/crash.js'
import { delayedChecks } from './suite/delayed.js'
import { engineChecks } from './suite/engine.js'
import { fencingChecks, sameBurstCheck } from './suite/fencing.js'
import { leaseChecks } from './suite/lease.js'
import { lockChecks } from './suite/locks.js'
import { namespaceChecks } from './suite/namespace.js'
import { orderChecks } from './suite/order.js'
import { pauseChecks } from './suite/pause.js'
import { removeOnCompleteChecks } from './suite/remove-on-complete.js'
import { retentionChecks } from './suite/retention.js'
import { retryChecks } from './suite/retry.js'
import { stallChecks } from './suite/stall.js'
import { storageChecks } from './suite/storage.js'
import { wakeupChecks } from './suite/wakeups.js'
import type { AdapterContractOptions, ContractCheck } from './types.js'

/** Every check of the contract, by concern, in the order the suite registers them. */
export const contractChecks: Readonly<Record<string, readonly ContractCheck[]>> = {
  claim: claimChecks,
  lease: leaseChecks,
  fencing: [...fencingChecks, sameBurstCheck],
  'complete-and-claim': completeAndClaimChecks,
  'remove-on-complete': removeOnCompleteChecks,
  stall: stallChecks,
  add: addChecks,
  delayed: delayedChecks,
  order: orderChecks,
  pause: pauseChecks,
  cancel: cancelChecks,
  retry: retryChecks,
  retention: retentionChecks,
  storage: storageChecks,
  locks: lockChecks,
  namespace: namespaceChecks,
  wakeups: wakeupChecks,
  closing: closingChecks,
  engine: engineChecks,
  crash: crashChecks,
}

/** Look a check up by id, e.g. `fencing.complete`. */
export function getCheck(id: string): ContractCheck {
  for (const checks of Object.values(contractChecks)) {
    const check = checks.find((c) => c.id === id)
    if (check) return check
  }
  throw new Error(`No contract check "${id}".`)
}

/**
 * Register the adapter conformance suite with vitest: one `describe` per concern, one test per check, each on a
 * fresh adapter set from `create()`. A check a declared capability rules out is registered as skipped, with
 * the reason in its name.
 */
export function runAdapterContract(options: AdapterContractOptions): void {
  const capabilities = resolveCapabilities(options)
  const timeout = options.timeoutMs ?? 60_000
  describe(`adapter contract: ${options.name}`, () => {
    for (const [concern, checks] of Object.entries(contractChecks)) {
      describe(concern, () => {
        for (const check of checks) {
          const reason = check.skip?.(capabilities, options) ?? null
          if (reason) it.skip(`${check.id}: ${check.title} [skipped: ${reason}]`, () => {})
          else
            it(
              `${check.id}: ${check.title}`,
              () => runContractCheck(options, check),
              Math.max(timeout, check.timeoutMs ?? 0),
            )
        }
      })
    }
  })
}

export { FreezableTimers } from '@oqronkit/core'
export { freshNs, newJob, resolveCapabilities, runContractCheck } from './context.js'
export {
  type AdapterCapabilities,
  type AdapterContractOptions,
  type AdapterFixture,
  type CheckContext,
  type ContractCheck,
  type CreateContext,
  capabilityDefaults,
  type ResolvedCapabilities,
  type TestClock,
} from './types.js'
export { randomId, sleep, testClock, type WaitOptions, waitUntil, within } from './util.js'
