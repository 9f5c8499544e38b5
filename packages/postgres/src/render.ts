import { TIMELINE_LIMIT } from '@oqronkit/core'
import { JOB_COLUMNS } from './row.js'

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** The NOTIFY channel of `schema`: wake-ups and cancellations of every namespace in it. */
export function channelOf(schema: string): string {
  return `${schema}_oqronkit`
}

/** A statement of `./sql` (or a migration's routine) as it runs on `schema`. */
export function render(text: string, schema: string): string {
  return text
    .replaceAll('{{job}}', JOB_COLUMNS)
    .replaceAll('{{schema}}', quoteIdent(schema))
    .replaceAll('{{lim}}', String(TIMELINE_LIMIT))
    .replaceAll('{{channel}}', `'${channelOf(schema)}'`)
}

interface Statements {
  [name: string]: string
}

/** Every statement of `set`, rendered for `schema`. */
export function renderAll<T extends Statements>(set: T, schema: string): T {
  const out: Statements = {}
  for (const [name, text] of Object.entries(set)) out[name] = render(text, schema)
  return out as T
}
