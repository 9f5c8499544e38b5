import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type AdapterContractOptions, runAdapterContract } from '@oqronkit/testkit'
import { afterAll, beforeAll } from 'vitest'
import { migrate, postgresAdapter } from '../src/index.js'
import { DATABASE_URL, dropSchema, randomSchema, runSuite } from './helpers.js'

// One schema for this file; every check of the suite works in its own random namespace.
const schema = randomSchema('kit')
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const loader = fileURLToPath(new URL('../../../scripts/text-loader.mjs', import.meta.url))

if (runSuite) {
  beforeAll(async () => {
    await migrate({ url: DATABASE_URL, schema })
  })
  afterAll(async () => {
    await dropSchema(schema)
  })

  const options: AdapterContractOptions = {
    name: 'postgres',
    capabilities: { completeAndClaim: true, removeOnComplete: true },
    create: () => ({
      adapters: postgresAdapter({ url: DATABASE_URL }, { schema, max: 4 }),
      connectPeer: () => postgresAdapter({ url: DATABASE_URL }, { schema, max: 4 }),
    }),
    process: {
      module: fileURLToPath(new URL('./fixtures/adapters.ts', import.meta.url)),
      export: 'postgres',
      options: { url: DATABASE_URL, schema },
      execArgv: ['--conditions=source', '--import', tsx, '--import', loader],
    },
  }
  runAdapterContract(options)
}
