import { AdapterError, OqronError } from '@oqronkit/core'
import type { ChannelHub } from './hub.js'
import { type NamespaceKeys, namespaceKeys, type QueueKeys, queueKeys } from './keys.js'
import { type RedisClient, runScript, type ScriptName } from './scripts.js'

/** What the storage, broker and lock of one adapter share: the command connection, key names, pub/sub. */
export class Backend {
  /** Pending `waitForWork` calls; `close()` resolves them. */
  readonly waiters = new Set<() => void>()
  closed = false
  private readonly queueKeyCache = new Map<string, QueueKeys>()
  private readonly nsKeyCache = new Map<string, NamespaceKeys>()

  constructor(
    readonly client: RedisClient,
    readonly prefix: string,
    /** Scripts touch only keys of one slot; the id index is written by separate commands. */
    readonly clusterMode: boolean,
    readonly wakeHub: ChannelHub,
    readonly cancelHub: ChannelHub,
  ) {}

  queue(ns: string, queue: string): QueueKeys {
    const cacheKey = `${ns}\u0000${queue}`
    let keys = this.queueKeyCache.get(cacheKey)
    if (!keys) {
      keys = queueKeys(this.prefix, ns, queue)
      this.queueKeyCache.set(cacheKey, keys)
    }
    return keys
  }

  ns(ns: string): NamespaceKeys {
    let keys = this.nsKeyCache.get(ns)
    if (!keys) {
      keys = namespaceKeys(this.prefix, ns)
      this.nsKeyCache.set(ns, keys)
    }
    return keys
  }

  run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return runScript(this.client, name, keys, args)
  }

  /** The queue an id belongs to, from the namespace's id index. */
  async queueOf(ns: string, id: string): Promise<string | null> {
    const entry = await this.client.get(this.ns(ns).idIndex + id)
    return entry === null ? null : indexedQueue(entry)
  }
}

/** Runs a Redis operation; driver failures surface as `AdapterError` with the driver error as `cause`. */
export async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (error instanceof OqronError) throw error
    const reason = error instanceof Error ? error.message : String(error)
    throw new AdapterError(
      `Redis ${operation} failed: ${reason}. Check that Redis is reachable and that the adapter was not closed.`,
      { cause: error },
    )
  }
}

/**
 * The queue an id index entry names: the entry itself, or its part before a newline (an entry written by
 * index-set on Redis Cluster carries the time it was written after one; queue names hold no newline).
 */
export function indexedQueue(entry: string): string {
  const end = entry.indexOf('\n')
  return end < 0 ? entry : entry.slice(0, end)
}
