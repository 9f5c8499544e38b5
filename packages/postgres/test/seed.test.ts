// The seed document's code, run as written on PostgreSQL: the only change from the in-memory run is
// `adapters: postgresAdapter(...)` in init() (see packages/oqronkit/test/seed-examples.ts).
import { postgresAdapter } from 'oqronkit/postgres'
import { afterAll, describe } from 'vitest'
import { runSeedExamples } from '../../oqronkit/test/seed-examples.js'
import { DATABASE_URL, dropSchema, randomSchema, runSuite } from './helpers.js'

const schema = randomSchema('oqs')

afterAll(async () => {
  if (runSuite) await dropSchema(schema)
})

describe.runIf(runSuite)('on PostgreSQL', () => {
  runSeedExamples(' on PostgreSQL', () => ({ adapters: postgresAdapter({ url: DATABASE_URL }, { schema }) }))
})
