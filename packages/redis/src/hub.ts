import type { Redis } from 'ioredis'
import type { RedisClient } from './scripts.js'

type Listener = (message: string) => void

interface Channel {
  listeners: Set<Listener>
  /** Messages seen on the channel, plus one per reconnect (messages may have been missed then). */
  count: number
  /** Resolves once the server confirmed the subscription. */
  subscribed: Promise<void>
}

/**
 * One pub/sub connection shared by many channels and listeners. It carries no other command, so a slow or
 * blocked subscriber never delays a heartbeat on the command connection. ioredis re-subscribes after a
 * reconnect; since messages published during the outage are gone, every channel then gets a synthetic
 * message (`count` moves, listeners run with `''`), which turns a possibly missed wake-up into a false one.
 */
export class ChannelHub {
  private sub: RedisClient | null = null
  private readonly channels = new Map<string, Channel>()
  private everReady = false
  private closed = false

  constructor(private readonly connect: () => RedisClient) {}

  private connection(): RedisClient {
    if (this.sub) return this.sub
    const sub = this.connect()
    sub.on('error', () => {
      // reconnects are ioredis' job; waiters fall back to their timeouts meanwhile
    })
    sub.on('message', (channel: string, message: string) => this.deliver(channel, message))
    sub.on('ready', () => {
      if (!this.everReady) {
        this.everReady = true
        return
      }
      // ioredis sent the re-SUBSCRIBEs before emitting 'ready'; a PING queued behind them answers once they
      // are in force, so a waiter woken now cannot check for work before its channel is live again.
      const wakeAll = () => {
        for (const channel of this.channels.keys()) this.deliver(channel, '')
      }
      if (sub.isCluster) wakeAll()
      else sub.ping().then(wakeAll, wakeAll)
    })
    this.sub = sub
    return sub
  }

  private deliver(name: string, message: string): void {
    const channel = this.channels.get(name)
    if (!channel) return
    channel.count++
    for (const listener of [...channel.listeners]) listener(message)
  }

  /** Messages seen so far on `name` (0 if not subscribed). */
  count(name: string): number {
    return this.channels.get(name)?.count ?? 0
  }

  /**
   * Subscribes to `name` if needed. Returns true when this call made the subscription (messages sent
   * before it were not seen), false when it already existed.
   */
  async ensure(name: string): Promise<boolean> {
    if (this.closed) throw new Error('closed')
    const existing = this.channels.get(name)
    if (existing) {
      await existing.subscribed
      return false
    }
    const sub = this.connection()
    const channel: Channel = {
      listeners: new Set(),
      count: 0,
      subscribed: sub.subscribe(name).then(() => undefined),
    }
    this.channels.set(name, channel)
    try {
      await channel.subscribed
    } catch (error) {
      if (this.channels.get(name) === channel && channel.listeners.size === 0) this.channels.delete(name)
      throw error
    }
    return true
  }

  /** Adds a listener to a subscribed channel; returns its removal. */
  listen(name: string, listener: Listener): () => void {
    const channel = this.channels.get(name)
    if (!channel) throw new Error(`not subscribed to ${name}`)
    channel.listeners.add(listener)
    return () => {
      channel.listeners.delete(listener)
    }
  }

  /**
   * Unsubscribes from `name` when nobody listens any more. Waits at most 1 s for Redis to confirm: nothing
   * depends on it (a message for a channel without listeners is dropped here), and on a connection that
   * stopped answering it would hold up whoever stops listening — the runtime's shutdown among them.
   */
  async release(name: string): Promise<void> {
    const channel = this.channels.get(name)
    if (!channel || channel.listeners.size > 0 || this.closed) return
    this.channels.delete(name)
    const unsubscribed = this.sub?.unsubscribe(name).catch(() => undefined)
    if (unsubscribed) await within(unsubscribed, 1_000)
  }

  /**
   * Drop the subscriber's socket, as a network cut would (not on a Cluster): ioredis reconnects and
   * re-subscribes, and every waiter is woken once it has (see `connection`). For when another connection to
   * the same server was found half-open: this one, idle and owing nothing, would not notice by itself, and
   * its wake-ups would be lost until then.
   */
  reset(): void {
    const sub = this.sub
    if (sub && !sub.isCluster) (sub as Redis).stream?.destroy()
  }

  async close(): Promise<void> {
    this.closed = true
    this.channels.clear()
    const sub = this.sub
    this.sub = null
    if (sub) await closeClient(sub)
  }
}

/** Closes a connection we created: QUIT when connected (bounded wait), else drop the socket. */
export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'ready')
    await within(
      client.quit().catch(() => undefined),
      1_000,
    )
  client.disconnect()
}

/**
 * The longest delay Node's timers keep: a longer one fires after 1 ms. Waits longer than this end early
 * instead (a false wake-up, which waitForWork's callers allow), never at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * `work`'s value, or undefined once `ms` pass or `signal` aborts, whichever comes first (`work` then goes on
 * in the background). Rejects only if `work` does.
 */
export async function within<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | undefined> {
  let stop = () => {}
  const cut = new Promise<undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), Math.min(ms, MAX_TIMER_MS))
    timer.unref()
    const onAbort = () => resolve(undefined)
    signal?.addEventListener('abort', onAbort, { once: true })
    stop = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  })
  try {
    return await Promise.race([work, cut])
  } finally {
    stop()
  }
}
