import { randomBytes } from 'node:crypto'

/**
 * Key and channel names. Two shapes, never confused with each other:
 *
 * - per queue: `<prefix>:{<ns>:<queue>}:<suffix>`: the braces are the Redis Cluster hash tag, so every key
 *   of one queue (and every job key built from it inside a script) lives in one slot and each script runs
 *   on one node;
 * - per namespace: `<prefix>:<ns>:<kind>:<name>` for the id index, shared state and locks; each key is
 *   used on its own, so these spread over the cluster.
 *
 * `ns` and queue names are escaped (`%`, `:`, `{`, `}`) so that distinct (ns, queue) pairs can never produce
 * the same key (`a:b` + `c` versus `a` + `b:c`) and a brace in a name can never move the hash tag.
 */
/**
 * A random id for one script call: a call that changed something leaves the marker `c:<id>` (replyMark in
 * includes/common.lua), so the same call re-sent after a lost reply is answered, not run again.
 */
export function callId(): string {
  return randomBytes(9).toString('base64url')
}

export function escapeSegment(value: string): string {
  return value.replace(/[%:{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** The keys of one queue. */
export interface QueueKeys {
  /** Prefix the scripts build job keys from: `<prefix>:{<ns>:<queue>}:`. */
  readonly base: string
  readonly meta: string
  readonly wait: string
  readonly delayed: string
  readonly active: string
  readonly all: string
  /** Pub/sub channel that wakes the queue's idle workers. */
  readonly wake: string
  job(id: string): string
  timeline(id: string): string
  status(status: string): string
  finished(status: string): string
}

export function queueKeys(prefix: string, ns: string, queue: string): QueueKeys {
  const base = `${prefix}:{${escapeSegment(ns)}:${escapeSegment(queue)}}:`
  return {
    base,
    meta: `${base}meta`,
    wait: `${base}wait`,
    delayed: `${base}delayed`,
    active: `${base}active`,
    all: `${base}all`,
    wake: `${base}wake`,
    job: (id) => `${base}j:${id}`,
    timeline: (id) => `${base}t:${id}`,
    status: (status) => `${base}s:${status}`,
    finished: (status) => `${base}f:${status}`,
  }
}

/** The keys of one namespace that belong to no queue. */
export interface NamespaceKeys {
  /** Prefix of the id -> queue index keys; the job id follows it. */
  readonly idIndex: string
  /** Set of the queue names that ever had a job (listJobs across queues). */
  readonly queues: string
  /** Pub/sub channel carrying the ids of cancelled jobs. */
  readonly cancel: string
  state(key: string): string
  lock(key: string): string
}

export function namespaceKeys(prefix: string, ns: string): NamespaceKeys {
  const base = `${prefix}:${escapeSegment(ns)}:`
  return {
    idIndex: `${base}id:`,
    queues: `${base}queues`,
    cancel: `${base}cancel`,
    state: (key) => `${base}st:${key}`,
    lock: (key) => `${base}lk:${key}`,
  }
}
