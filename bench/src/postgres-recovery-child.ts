/**
 * A worker process of the recovery benchmark (`postgres.ts`): consumes queue `rec` of one system at
 * concurrency 1, reports each handler start to the parent over IPC and then holds the job forever, until
 * the parent SIGKILLs it. Arguments: <system id> <database url> <name>.
 */
import { systems } from './postgres-systems.js'

const [id, url] = process.argv.slice(2)
const system = systems.find((s) => s.id === id)
if (!system || !url)
  throw new Error(`usage: postgres-recovery-child <${systems.map((s) => s.id).join('|')}> <url> <name>`)

await system.consumer(url, 'rec', 1, async () => {
  process.send?.({ type: 'started', at: Date.now() })
  await new Promise(() => {}) // a job that runs until the process dies
})
process.send?.({ type: 'ready', at: Date.now() })
process.on('disconnect', () => process.exit(0))
