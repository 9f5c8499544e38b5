import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { NO_TYPE_FETCH, type Sql } from './options.js'
import { channelOf } from './render.js'
import type { OwnSockets } from './sockets.js'

/**
 * The LISTEN connection's liveness check: its own sockets and the deadline of a `select 1` sent on it every
 * `timeoutMs` (replyTimeoutMs). A connection that goes half-open owes nothing while it waits for
 * notifications, so nothing else would ever notice.
 */
export interface ListenerCheck {
  sockets: OwnSockets
  timeoutMs: number
}

/**
 * A job an add pushed to a parked claim (migration 000005): the park's prefix `k` and the claimed row `r` in
 * CLAIM's columns, or null when the job's data was too large for the payload.
 */
export interface PushMessage {
  t: 'p'
  n: string
  q: string
  k: string
  r: unknown[] | null
}

/** A NOTIFY payload: work may be available (`w`), a job was pushed (`p`) or cancelled (`c`). */
type Message = { t: 'w'; n: string; q: string; d: number } | PushMessage | { t: 'c'; n: string; i: string }

interface Waiter {
  /** Local deadline (performance.now()) of the fallback timer, moved earlier by a delayed add. */
  deadline: number
  timer: NodeJS.Timeout
  wake: () => void
}

const MAX_RELISTEN_DELAY_MS = 30_000

/**
 * The single LISTEN connection of one adapter, and everything that hangs off it: waitForWork waiters
 * and onCancel listeners.
 *
 * It is a dedicated postgres.js client with `max: 1`, built from the options of the adapter's client,
 * so a user's pool never loses a connection to LISTEN and `close()` can end it. postgres.js re-listens
 * by itself after a drop, but gives up silently if the server is still down at that moment; this class
 * owns the loop instead: on every close it re-LISTENs with a doubling delay until it succeeds, then
 * wakes every waiter once, because notifications sent while it was down are lost.
 *
 * Lost-wake-up race: a claim that found nothing and the waitForWork that follows are two steps; an add
 * that commits between them notifies before anyone waits. Each key counts its notifications, a claim
 * records the count before it runs, and waitForWork returns at once if the count moved since.
 */
export class Notifier {
  private readonly channel: string
  private client: Sql | null = null
  private started: Promise<void> | null = null
  private closed = false
  private relistenDelay: number
  private relistenTimer: NodeJS.Timeout | null = null
  /** True from a successful LISTEN until its connection closes. */
  private listening = false
  private checkTimer: NodeJS.Timeout | null = null
  private checking = false
  /** Bumped on every successful (re)LISTEN: everything before it may have been missed. */
  private epoch = 0
  private readonly counts = new Map<string, number>()
  private readonly marks = new Map<string, number>()
  /** Per key: the earliest local due time (performance.now()) announced by a delayed add since the last claim. */
  private readonly dueSoon = new Map<string, number>()
  private readonly waiters = new Map<string, Set<Waiter>>()
  private readonly cancelListeners = new Map<string, Set<(jobId: string) => void>>()
  /**
   * The key of the session-level advisory lock the LISTEN connection takes after each LISTEN: adds push jobs
   * only to parks whose holder lock is held (see ADD_ONE). Random per adapter, in the single-bigint key space
   * (the lanes' locks use the two-int one).
   */
  readonly holderKey = randomBytes(8).readBigInt64BE().toString()
  /** True while the LISTEN connection holds `holderKey`: only then may a claim leave a park. */
  private holding = false
  /** Takes a pushed job (`t: 'p'`); true if it was for a park of this adapter, which wakes the queue's waiters. */
  onPush: ((msg: PushMessage) => boolean) | null = null

  constructor(
    private readonly base: Sql,
    schema: string,
    private readonly firstRelistenDelay: number,
    private readonly check: ListenerCheck | null = null,
  ) {
    this.channel = channelOf(schema)
    this.relistenDelay = firstRelistenDelay
  }

  /** True while a claim may leave a park: the LISTEN connection is up and holds `holderKey`. */
  get canPark(): boolean {
    return this.listening && this.holding && !this.closed
  }

  /** The NOTIFY channel, as statements write it. */
  get channelName(): string {
    return this.channel
  }

  /** LISTEN once; later calls share the first one. Rejects if the first LISTEN fails. */
  start(): Promise<void> {
    if (!this.started) {
      this.started = this.listen().catch((err) => {
        this.started = null
        throw err
      })
    }
    return this.started
  }

  private connect(): Sql {
    if (this.client) return this.client
    const options = (this.base as unknown as { options: Record<string, unknown> }).options
    // Same host, credentials and TLS as the adapter's client; one connection that never idles out.
    this.client = postgres({
      ...(options as object),
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: NO_TYPE_FETCH,
      onnotice: () => {},
      onnotify: (channel: string, payload: string) => {
        if (channel === this.channel) this.dispatch(payload)
      },
      onclose: () => {
        this.listening = false
        this.holding = false
        if (!this.closed) this.scheduleRelisten()
      },
      ...(this.check ? this.check.sockets.option : {}),
    } as unknown as postgres.Options<Record<string, never>>) as unknown as Sql
    return this.client
  }

  private async listen(): Promise<void> {
    const client = this.connect()
    await client.unsafe(`listen "${this.channel}"`)
    // Not held if an old connection's backend, not yet gone, still holds it: no parks until the next LISTEN.
    const [held] = await client
      .unsafe('select pg_try_advisory_lock($1::bigint)', [this.holderKey] as never)
      .values()
    this.holding = held![0] === true
    this.listening = true
    this.relistenDelay = this.firstRelistenDelay
    this.epoch++
    this.wakeAll()
    this.startChecks()
  }

  /**
   * Every `timeoutMs`, a `select 1` on the LISTEN connection; no answer within `timeoutMs` closes its socket,
   * and the close re-LISTENs (and wakes every waiter) as after any drop. So a listener that went half-open
   * while the rest of the adapter stayed healthy is replaced within two `timeoutMs`, instead of leaving
   * wake-ups to the slow poll until TCP keepalive gives up (minutes).
   */
  private startChecks(): void {
    const check = this.check
    if (!check || this.checkTimer || this.closed) return
    this.checkTimer = setInterval(() => {
      const client = this.client
      if (!client || !this.listening || this.checking) return
      this.checking = true
      const deadline = setTimeout(() => void check.sockets.destroyAll(), check.timeoutMs)
      deadline.unref()
      client
        .unsafe('select 1')
        .catch(() => {
          // A closed connection: onclose re-LISTENs.
        })
        .finally(() => {
          clearTimeout(deadline)
          this.checking = false
        })
    }, check.timeoutMs)
    this.checkTimer.unref()
  }

  /** Close the LISTEN connection's sockets (see ListenerCheck), as when the path to the server died. */
  closeListener(): Promise<void> {
    return this.check ? this.check.sockets.destroyAll() : Promise.resolve()
  }

  private scheduleRelisten(): void {
    if (this.relistenTimer || this.closed) return
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = null
      if (this.closed) return
      this.listen().catch(() => {
        this.relistenDelay = Math.min(this.relistenDelay * 2, MAX_RELISTEN_DELAY_MS)
        this.scheduleRelisten()
      })
    }, this.relistenDelay)
    this.relistenTimer.unref()
  }

  private dispatch(payload: string): void {
    let msg: Message
    try {
      msg = JSON.parse(payload) as Message
    } catch {
      return
    }
    if (msg.t === 'w') {
      const key = `${msg.n}\u0000${msg.q}`
      if (msg.d <= 0) {
        this.workFor(key)
        return
      }
      // Not work yet: remembered so a wait that starts now still ends at its due time.
      const due = performance.now() + msg.d
      if (due < (this.dueSoon.get(key) ?? Number.POSITIVE_INFINITY)) this.dueSoon.set(key, due)
      // A job due later: each waiter wakes at its due time if that is before the waiter's fallback.
      for (const w of this.waiters.get(key) ?? []) {
        if (due < w.deadline) {
          clearTimeout(w.timer)
          w.deadline = due
          w.timer = setTimeout(w.wake, msg.d)
          w.timer.unref()
        }
      }
    } else if (msg.t === 'p') {
      if (this.onPush?.(msg)) this.workFor(`${msg.n}\u0000${msg.q}`)
    } else if (msg.t === 'c') {
      const set = this.cancelListeners.get(msg.n)
      if (set) for (const listener of [...set]) listener(msg.i)
    }
  }

  /** Work for `key` now: counted (see markClaim), and its waiters woken. */
  private workFor(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    for (const w of [...(this.waiters.get(key) ?? [])]) w.wake()
  }

  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const w of [...set]) w.wake()
  }

  private stamp(key: string): number {
    return (this.counts.get(key) ?? 0) + this.epoch * 2 ** 32
  }

  /** Called before every claim of `key`. */
  markClaim(key: string): void {
    this.marks.set(key, this.stamp(key))
    this.dueSoon.delete(key)
  }

  /** True if a notification for `key` (or a re-listen) came after the last claim of `key`. */
  private missed(key: string): boolean {
    const mark = this.marks.get(key)
    return mark === undefined || mark !== this.stamp(key)
  }

  /**
   * Wait until a notification for `key`, `timeoutMs`, or `signal`. `nextDue` is asked only if nothing
   * was missed since the last claim; its answer shortens the wait to the next delayed job's due time.
   */
  async wait(
    key: string,
    timeoutMs: number,
    signal: AbortSignal,
    nextDue: () => Promise<number | null>,
  ): Promise<void> {
    if (signal.aborted || this.closed) return
    try {
      await this.start()
    } catch {
      // No LISTEN (server down): fall back to the slow poll; the claim that follows will report errors.
    }
    if (this.missed(key)) {
      // Consumed: a second wait without a claim in between really waits.
      this.marks.set(key, this.stamp(key))
      return
    }
    let due = await nextDue()
    if (signal.aborted || this.closed || this.missed(key)) return
    const announced = this.dueSoon.get(key)
    if (announced !== undefined)
      due = Math.min(due ?? Number.POSITIVE_INFINITY, announced - performance.now())
    // A due-but-unclaimable delayed job (locked by another claim in flight) is retried after a beat
    // rather than at once, so this never turns into a busy loop.
    const ms = Math.max(0, Math.min(timeoutMs, due === null ? Number.POSITIVE_INFINITY : Math.max(due, 25)))
    await new Promise<void>((resolve) => {
      let set = this.waiters.get(key)
      if (!set) {
        set = new Set()
        this.waiters.set(key, set)
      }
      const waiter: Waiter = {
        deadline: performance.now() + ms,
        timer: setTimeout(() => waiter.wake(), ms),
        wake: () => {
          clearTimeout(waiter.timer)
          signal.removeEventListener('abort', waiter.wake)
          const s = this.waiters.get(key)
          if (s) {
            s.delete(waiter)
            if (s.size === 0) this.waiters.delete(key)
          }
          resolve()
        },
      }
      waiter.timer.unref()
      set.add(waiter)
      signal.addEventListener('abort', waiter.wake, { once: true })
    })
  }

  async onCancel(ns: string, listener: (jobId: string) => void): Promise<() => Promise<void>> {
    await this.start()
    let set = this.cancelListeners.get(ns)
    if (!set) {
      set = new Set()
      this.cancelListeners.set(ns, set)
    }
    set.add(listener)
    return async () => {
      const s = this.cancelListeners.get(ns)
      if (!s) return
      s.delete(listener)
      if (s.size === 0) this.cancelListeners.delete(ns)
    }
  }

  /** Test hook: the backend pid of the LISTEN connection, to terminate it. */
  async listenerPid(): Promise<number> {
    await this.start()
    const [row] = await this.client!.unsafe('select pg_backend_pid()').values()
    return row![0] as number
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.relistenTimer) clearTimeout(this.relistenTimer)
    this.relistenTimer = null
    if (this.checkTimer) clearInterval(this.checkTimer)
    this.checkTimer = null
    this.wakeAll()
    this.cancelListeners.clear()
    const client = this.client
    this.client = null
    if (client) await client.end({ timeout: 1 })
  }
}
