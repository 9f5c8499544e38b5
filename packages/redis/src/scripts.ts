import { TIMELINE_LIMIT } from '@oqronkit/core'
import type { Cluster, Redis } from 'ioredis'
import { JOB_FIELDS } from './codec.js'
import add from './commands/add-4.lua'
import cancel from './commands/cancel-5.lua'
import claim from './commands/claim-4.lua'
import completeAndClaim from './commands/complete-and-claim-4.lua'
import fail from './commands/fail-6.lua'
import get from './commands/get-2.lua'
import claimInclude from './commands/includes/claim.lua'
import common from './commands/includes/common.lua'
import indexDel from './commands/index-del-1.lua'
import indexSet from './commands/index-set-1.lua'
import lockAcquire from './commands/lock-acquire-1.lua'
import lockRelease from './commands/lock-release-1.lua'
import lockRenew from './commands/lock-renew-1.lua'
import log from './commands/log-2.lua'
import pause from './commands/pause-1.lua'
import peek from './commands/peek-3.lua'
import progress from './commands/progress-2.lua'
import prune from './commands/prune-2.lua'
import recoverStalled from './commands/recover-stalled-3.lua'
import release from './commands/release-5.lua'
import remove from './commands/remove-5.lua'
import renew from './commands/renew-2.lua'
import retry from './commands/retry-4.lua'
import setDisabled from './commands/set-disabled-4.lua'
import stateCas from './commands/state-cas-1.lua'

export type RedisClient = Redis | Cluster

/**
 * Every command script with its number of keys (the `-N` of its file name) and the includes it needs
 * beyond common.lua (which every script gets).
 */
const SCRIPTS = {
  add: [4, add],
  cancel: [5, cancel],
  claim: [4, claim, [claimInclude]],
  completeAndClaim: [4, completeAndClaim, [claimInclude]],
  fail: [6, fail],
  get: [2, get],
  indexDel: [1, indexDel],
  indexSet: [1, indexSet],
  lockAcquire: [1, lockAcquire],
  lockRelease: [1, lockRelease],
  lockRenew: [1, lockRenew],
  log: [2, log],
  pause: [1, pause],
  peek: [3, peek],
  progress: [2, progress],
  prune: [2, prune],
  recoverStalled: [3, recoverStalled],
  release: [5, release],
  remove: [5, remove],
  renew: [2, renew],
  retry: [4, retry],
  setDisabled: [4, setDisabled],
  stateCas: [1, stateCas],
} as const satisfies Record<string, readonly [number, string, (readonly string[])?]>

export type ScriptName = keyof typeof SCRIPTS

/**
 * Shared helpers, prepended to each script so every command is still one self-contained EVAL. The constants
 * come from TypeScript, so the scripts and the client can never disagree on them.
 */
const PRELUDE = [
  `local TIMELINE_LIMIT = ${TIMELINE_LIMIT}`,
  `local JOB_FIELDS = { ${JOB_FIELDS.map((f) => `'${f}'`).join(', ')} }`,
  `local JF = { ${JOB_FIELDS.map((f, i) => `${f} = ${i + 1}`).join(', ')} }`,
  common,
  '',
].join('\n')

/** The full source of a script as sent to Redis (exported for tests and tooling). */
export function scriptSource(name: ScriptName): string {
  const [, body, includes = []] = SCRIPTS[name] as readonly [number, string, (readonly string[])?]
  return [PRELUDE, ...includes, body].join('\n')
}

const commandName = (name: ScriptName) => `oqron_${name}`

/**
 * Registers the scripts on a client. ioredis then sends EVALSHA and falls back to EVAL on NOSCRIPT (a
 * restarted or failed-over server has an empty script cache), in pipelines and on Cluster alike.
 */
export function defineScripts(client: RedisClient): void {
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    client.defineCommand(commandName(name), { numberOfKeys: SCRIPTS[name][0], lua: scriptSource(name) })
  }
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>

/** Runs a script defined by `defineScripts`. */
export function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  if (keys.length !== SCRIPTS[name][0]) {
    throw new Error(`script ${name} takes ${SCRIPTS[name][0]} keys, got ${keys.length}`)
  }
  const fn = (client as unknown as Record<string, ScriptFn>)[commandName(name)]!
  return fn.call(client, ...keys, ...args)
}
