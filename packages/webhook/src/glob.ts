import { OqronConfigError } from '@oqronkit/core'

/**
 * Event globs over dot-separated names: `*` matches exactly one segment, `**` any number of segments
 * (none included). `order.*` matches `order.paid` but not `order.paid.late`; `order.**` matches `order`,
 * `order.paid` and `order.paid.late`; `**` matches everything.
 */
export function eventMatches(pattern: string, event: string): boolean {
  return match(pattern.split('.'), 0, event.split('.'), 0)
}

function match(p: string[], i: number, e: string[], j: number): boolean {
  if (i === p.length) return j === e.length
  const seg = p[i]!
  if (seg === '**') {
    for (let k = j; k <= e.length; k++) if (match(p, i + 1, e, k)) return true
    return false
  }
  if (j === e.length) return false
  return (seg === '*' || seg === e[j]) && match(p, i + 1, e, j + 1)
}

const SEGMENT = /^[A-Za-z0-9_:-]+$/

/** Event names are dot-separated segments of letters, digits, `_`, `-`, `:`. */
export function assertEventName(event: unknown): asserts event is string {
  if (typeof event !== 'string' || event.length > 200 || !event.split('.').every((s) => SEGMENT.test(s))) {
    throw new OqronConfigError(
      `fire() event must be dot-separated segments of letters, digits, _ - : (e.g. "invoice.paid"), got ${JSON.stringify(event)}.`,
      { field: 'event' },
    )
  }
}

export function assertEventPattern(pattern: unknown, field: string): asserts pattern is string {
  if (
    typeof pattern !== 'string' ||
    !pattern.split('.').every((s) => s === '*' || s === '**' || SEGMENT.test(s))
  ) {
    throw new OqronConfigError(
      `${field} must be an event glob such as "invoice.*" or "order.**", got ${JSON.stringify(pattern)}.`,
      { field },
    )
  }
}
