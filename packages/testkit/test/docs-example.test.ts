import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

// docs/adapters.md shows the custom-adapter example verbatim; this keeps the doc and the tested code one text.
const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8').trimEnd()

describe('docs/adapters.md "Write your own adapter"', () => {
  for (const file of ['fixtures/map-lock.ts', 'custom-lock.contract.test.ts']) {
    it(`shows packages/testkit/test/${file} exactly`, () => {
      const doc = read('../../../docs/adapters.md')
      expect(doc).toContain(`\`\`\`ts\n// packages/testkit/test/${file}\n${read(`./${file}`)}\n\`\`\``)
    })
  }
})
