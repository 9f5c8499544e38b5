import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  type AdapterContractOptions,
  contractChecks,
  resolveCapabilities,
  runContractCheck,
} from '@oqronkit/testkit'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { migrate, postgresAdapter } from '../src/index.js'
import { DATABASE_URL, dropSchema, randomSchema, runSuite } from './helpers.js'

// One schema for this file; every check of the suite works in its own random namespace.
const schema = randomSchema('kit')
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const loader = fileURLToPath(new URL('./fixtures/sql-loader.mjs', import.meta.url))

if (runSuite) {
  beforeAll(async () => {
    await migrate({ url: DATABASE_URL, schema })
  })
  afterAll(async () => {
    await dropSchema(schema)
  })

  const options: AdapterContractOptions = {
    name: 'postgres',
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
  registerContract(options)
}

/**
 * Checks this file does not run, with the reason. `engine.cancel-across-runtimes` starts a consumer on
 * node B (no-op handler, records nothing) before enqueuing and then waits for node A to start the job;
 * with a backend shared by real nodes B wins that claim about half the time, so the check is a coin
 * flip, not a property of the adapter. Cross-node cancel is covered in notify.test.ts and by the rest
 * of the suite; reported to the testkit owner.
 */
const NOT_RUN: Record<string, string> = {
  'engine.cancel-across-runtimes': 'racy for multi-node backends: node B may take the job first',
}

/** runAdapterContract, less the checks in NOT_RUN (registered as skipped with the reason). */
function registerContract(options: AdapterContractOptions): void {
  const capabilities = resolveCapabilities(options)
  describe(`adapter contract: ${options.name}`, () => {
    for (const [concern, checks] of Object.entries(contractChecks)) {
      describe(concern, () => {
        for (const check of checks) {
          const reason = NOT_RUN[check.id] ?? check.skip?.(capabilities, options) ?? null
          if (reason) it.skip(`${check.id}: ${check.title} [skipped: ${reason}]`, () => {})
          else
            it(
              `${check.id}: ${check.title}`,
              () => runContractCheck(options, check),
              Math.max(60_000, check.timeoutMs ?? 0),
            )
        }
      })
    }
  })
}
