import { OqronConfigError } from '@oqronkit/core'
import { Cron } from 'croner'

/** When a recurring definition fires. Times are ms since the epoch; every node computes the same ones. */
export interface FireSource {
  /** The first fire strictly after `after`, or null if there is none. */
  next(after: number): number | null
  /** Human description for errors and logs. */
  readonly describe: string
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `1500`, `'500ms'`, `'1s'`, `'5m'`, `'2h'`, `'1d'` → ms. */
export function parseEvery(value: unknown, field: string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 1) return value
  } else if (typeof value === 'string') {
    const match = /^(\d+)\s*(ms|s|m|h|d)$/.exec(value.trim())
    if (match) {
      const ms = Number(match[1]) * UNITS[match[2]!]!
      if (ms >= 1) return ms
    }
  }
  throw new OqronConfigError(
    `${field} must be a positive number of ms or a string like '500ms', '10s', '5m', '2h', '1d'; got ${JSON.stringify(value)}.`,
    { field },
  )
}

/**
 * Every `ms`, aligned to the epoch: fires at k × ms. Alignment is what lets every node agree on fire
 * times (and so on job ids) without talking to each other.
 */
export function everySource(ms: number): FireSource {
  return {
    describe: `every ${ms} ms`,
    next: (after) => (Math.floor(after / ms) + 1) * ms,
  }
}

export function cronSource(expression: unknown, timezone: string | undefined, field: string): FireSource {
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw new OqronConfigError(`${field}.expression must be a cron expression string.`, {
      field: `${field}.expression`,
    })
  }
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone })
    } catch {
      throw new OqronConfigError(
        `${field}.timezone "${timezone}" is not an IANA time zone (e.g. 'Europe/London').`,
        {
          field: `${field}.timezone`,
        },
      )
    }
  }
  let cron: Cron
  try {
    cron = new Cron(expression, { paused: true, timezone })
    cron.nextRun(new Date(0))
  } catch (error) {
    throw new OqronConfigError(
      `${field}.expression "${expression}" is not a valid cron expression: ${(error as Error).message}`,
      {
        field: `${field}.expression`,
        cause: error,
      },
    )
  }
  if (cron.nextRun(new Date()) === null) {
    // Valid fields that never meet (e.g. February 30): without this the definition would silently never fire.
    throw new OqronConfigError(`${field}.expression "${expression}" never fires (no date matches it).`, {
      field: `${field}.expression`,
    })
  }
  return {
    describe: `"${expression}"${timezone ? ` in ${timezone}` : ''}`,
    next: (after) => cron.nextRun(new Date(after))?.getTime() ?? null,
  }
}
