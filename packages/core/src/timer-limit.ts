import { OqronConfigError } from './errors.js'

/** The longest delay Node's timers keep: a longer one fires after 1 ms (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2_147_483_647

/** Throws `OqronConfigError` (field `field`) when `ms`, a delay the engine puts on a timer, is past Node's limit. */
export function assertTimerMs(ms: number, field: string): number {
  if (ms > MAX_TIMER_MS) {
    throw new OqronConfigError(
      `${field} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${ms}: Node fires a longer timer after 1 ms.`,
      { field },
    )
  }
  return ms
}
