import { TIMELINE_LIMIT } from '@oqronkit/core'
import { JOB_COLUMNS } from '../src/row.js'

/** The scripts' stand-in for the adapter's statement rendering: the statements of `../src/sql` for `schema`. */
export function renderer(schema: string): (text: string) => string {
  const q = `"${schema}"`
  return (text) =>
    text
      .replaceAll('{{job}}', JOB_COLUMNS)
      .replaceAll('{{schema}}', q)
      .replaceAll('{{lim}}', String(TIMELINE_LIMIT))
      .replaceAll('{{channel}}', `'${schema}_oqronkit'`)
}
