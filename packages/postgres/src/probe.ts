import postgres from 'postgres'
import { NO_TYPE_FETCH } from './options.js'
import { OwnSockets, type SocketTarget, targetKey } from './sockets.js'

/**
 * The backends given, and whether each is still at its statement: running it (or waiting for a lock), or
 * idle (in a transaction or not: a claim's transaction waits for its `commit`) for less than $2 ms (its
 * reply may still be on its way). A backend that is gone, idle for longer, or
 * whose state cannot be read (`track_activities` off: state `disabled`) is not listed as working.
 */
const PROBE = `
select a.pid, a.state is not null and a.state <> 'disabled'
  and (a.state not like 'idle%' or a.state_change > now() - $2::float8 * interval '1 millisecond')
from pg_stat_activity a
where a.pid = any (string_to_array($1::text, ',')::int[])
`

/** The key of the questions about statements not sent yet (no backend pid is negative). */
const NOT_SENT = -1

/**
 * Asks the server, on a connection of its own, whether the backend a statement without an answer was sent on
 * is still working on it (see `replyTimeoutMs`). A statement the server is still running — a slow one, or one
 * waiting for a lock — is not a dead connection, and closing its pool would fail it and every healthy
 * statement beside it; a backend that finished long ago, or a server that does not answer the question in
 * time, means the answer was lost on the way.
 *
 * The question goes to the server the statement's pool is connected to (`target`; with several hosts in the
 * URL, not necessarily the first, which may be the one that stopped answering), or, without a target, to the
 * URL as postgres.js connects to it. The questions of one turn to one server share one connection, made for
 * them and closed after (a probe is rare: only a statement late by `replyTimeoutMs` asks).
 */
export class BackendProbe {
  private asked = new Map<
    string,
    { target: SocketTarget | null; pids: Map<number, ((working: boolean) => void)[]> }
  >()
  private scheduled = false
  private readonly clients = new Set<OwnSockets>()
  private closed = false

  constructor(
    private readonly url: string,
    /** How long the server has to answer (connection included). */
    private readonly timeoutMs: number,
  ) {}

  /**
   * True if the server says backend `pid` is still at its statement, or refuses to be asked (a server at its
   * connection limit answers, if not this question); false if not, or if it does not answer at all.
   * With `pid` null (a statement not sent yet: it waits for a connection of its pool), true if the server
   * answers at all: a busy pool, not a dead path.
   */
  working(pid: number | null, target: SocketTarget | null = null): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(false)
      const server = target === null ? '' : targetKey(target)
      let group = this.asked.get(server)
      if (!group) {
        group = { target, pids: new Map() }
        this.asked.set(server, group)
      }
      const key = pid ?? NOT_SENT
      const waiting = group.pids.get(key)
      if (waiting) waiting.push(resolve)
      else group.pids.set(key, [resolve])
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => void this.ask())
      }
    })
  }

  /**
   * `working(pid)` asked of each of `targets` (the servers a pool is connected to; none: the URL's): true as
   * soon as one says so, false once all have said not. Pids of different servers may coincide; that errs
   * toward waiting on.
   */
  workingOnAny(pid: number | null, targets: SocketTarget[]): Promise<boolean> {
    if (targets.length === 0) return this.working(pid)
    return new Promise((resolve) => {
      let left = targets.length
      for (const target of targets) {
        void this.working(pid, target).then((working) => {
          if (working) resolve(true)
          else if (--left === 0) resolve(false)
        })
      }
    })
  }

  /** Ends the connections of probes still out; their questions answer false. */
  close(): void {
    this.closed = true
    for (const sockets of this.clients) void sockets.destroyAll()
  }

  private async ask(): Promise<void> {
    const asked = this.asked
    this.asked = new Map()
    this.scheduled = false
    await Promise.all([...asked.values()].map(({ target, pids }) => this.askServer(target, pids)))
  }

  private async askServer(
    target: SocketTarget | null,
    asked: Map<number, ((working: boolean) => void)[]>,
  ): Promise<void> {
    const sockets = new OwnSockets()
    this.clients.add(sockets)
    const client = postgres(this.url, {
      max: 1,
      onnotice: () => {},
      fetch_types: NO_TYPE_FETCH,
      ...(target === null
        ? {}
        : 'path' in target
          ? { path: target.path }
          : { host: target.host, port: target.port }),
      ...sockets.option,
    })
    const working = new Set<number>()
    // The server refused the question itself (too many connections, starting up, shutting down): it answers,
    // so the path to it works, and a statement sent there is taken as still running (asked about again later).
    let refused = false
    let timer: NodeJS.Timeout | undefined
    try {
      const idleGraceMs = Math.min(1_000, this.timeoutMs / 2)
      const rows = await Promise.race([
        client.unsafe(PROBE, [[...asked.keys()].join(','), idleGraceMs]).values(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer')), this.timeoutMs)
        }),
      ])
      working.add(NOT_SENT)
      for (const [pid, busy] of rows as unknown as [number, boolean][]) if (busy) working.add(pid)
    } catch (error) {
      // A server's error is an answer; no answer in time, or a socket error, means the path is dead, as far
      // as anyone can tell.
      refused = error instanceof postgres.PostgresError
    } finally {
      clearTimeout(timer)
      await sockets.destroyAll()
      void client.end({ timeout: 0 }).catch(() => {})
      this.clients.delete(sockets)
    }
    for (const [pid, resolvers] of asked)
      for (const resolve of resolvers) resolve(refused || working.has(pid))
  }
}
