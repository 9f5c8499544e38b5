import { Socket } from 'node:net'

/** What postgres.js passes to its `socket` option: the parsed connection options. */
interface SocketOptions {
  host: string[]
  port: number[]
  path?: string | false
}

/** Where a socket connects: a Unix socket path, or a host and port. */
export type SocketTarget = { path: string } | { host: string; port: number }

/** A SocketTarget as a string, one per server. */
export function targetKey(target: SocketTarget): string {
  return 'path' in target ? target.path : `${target.host}:${target.port}`
}

/**
 * The sockets of one postgres.js client, made by the adapter (postgres.js's documented `socket` option) so
 * that the adapter can close them: a connection whose server or network went away without a reset (a
 * failover, a dead host, a dropped NAT entry) never errors by itself, and every statement sent on it waits
 * until TCP keepalive gives up, minutes later. See `replyTimeoutMs`.
 *
 * Connects as postgres.js would: the Unix socket `path` if set, else the hosts in turn (postgres.js moves to
 * the next host on every connection attempt; with its own sockets it leaves that to the factory). The socket
 * is returned while it connects; postgres.js writes its startup message at once and Node sends it on
 * connect. `host`/`port` are set on the socket as postgres.js sets them (its TLS upgrade reads `host` for
 * SNI, its errors both).
 */
export class OwnSockets {
  private readonly open = new Map<Socket, SocketTarget>()
  private next = 0

  readonly factory = (options: SocketOptions): Socket => {
    const socket = new Socket() as Socket & { host?: string; port?: number }
    let target: SocketTarget
    if (options.path) {
      target = { path: options.path }
      socket.connect(options.path)
    } else {
      const i = this.next++ % options.host.length
      const host = options.host[i]!
      const port = options.port[i] ?? options.port[0]!
      target = { host, port }
      socket.host = host
      socket.port = port
      socket.connect(port, host)
    }
    this.open.set(socket, target)
    socket.once('close', () => this.open.delete(socket))
    return socket
  }

  /**
   * The servers this client's connected sockets lead to, each once: where a statement sent on one of them
   * is (with several hosts in the URL, not necessarily the first). Sockets still connecting are left out.
   */
  targets(): SocketTarget[] {
    const seen = new Map<string, SocketTarget>()
    for (const [socket, target] of this.open) {
      if (socket.connecting || socket.destroyed) continue
      seen.set(targetKey(target), target)
    }
    return [...seen.values()]
  }

  /** Spread into postgres.js's options (`socket` is documented but missing from its typings). */
  get option(): object {
    return { socket: this.factory }
  }

  /**
   * Close every connection of this client at once, as a network cut would: postgres.js fails the statements
   * running on them (`CONNECTION_CLOSED`) and reconnects for the next ones. Resolves once postgres.js has
   * seen every one of them close, so a statement sent after that never lands on a closed socket.
   */
  destroyAll(): Promise<void> {
    const closing = [...this.open.keys()].map((socket) => {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      socket.destroy()
      return closed
    })
    this.open.clear()
    return Promise.all(closing).then(() => {})
  }
}
