import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * Decides, for one connection, when its replies are lost. Made by the `watch` given to `loseReply`, one per
 * connection, which then sees that connection's traffic from the moment of the call (`fresh`: from its
 * first byte, the connection being newer than the call).
 */
export interface ReplyLoss {
  /** Each chunk the client sends, in order; true: withhold this connection's replies from now on. */
  sent(chunk: Buffer): boolean
  /** All the replies withheld so far; true: cut the connection (both sides) now. */
  cut(held: Buffer): boolean
}

/** A Buffer seen as a plain Uint8Array (Node 20's Buffer typings and TypeScript 5.9 disagree). */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

interface Link {
  client: Socket
  upstream: Socket
  loss: ReplyLoss | null
  withholding: boolean
  held: Buffer
  /** Forwards nothing either way, and stays open (see `freeze`). */
  frozen: boolean
  /** What the client has sent so far (latin1, at most SENT_KEPT characters), for `freeze`'s filter. */
  sent: string
}

/** How much of each connection's client traffic `freeze(match)` can look at. */
const SENT_KEPT = 65_536

/**
 * A TCP proxy on 127.0.0.1 in front of a server on loopback that can lose one reply: the command reaches the
 * server and is applied, its answer never reaches the client, and the connection is cut (or, if `cut` never
 * says so, stays open and silent: a half-open connection). This is how a
 * dropped connection looks at the worst moment, and what an adapter must survive without losing or
 * stranding a job: point the adapter at `port`, arm `loseReply`, make the call.
 */
export class LossyProxy {
  private readonly links = new Set<Link>()
  private connections = 0
  private watch: ((fresh: boolean) => ReplyLoss) | null = null
  private lost: (() => void) | null = null
  private freezingNew = false

  private constructor(
    private readonly server: Server,
    /** The port the proxy listens on, at 127.0.0.1. */
    readonly port: number,
  ) {}

  /** Listen on a free port of 127.0.0.1, forwarding to `target`: a loopback address (127.x.x.x or ::1). */
  static async start(target: { host: string; port: number }): Promise<LossyProxy> {
    if (!/^127\.\d+\.\d+\.\d+$/.test(target.host) && target.host !== '::1') {
      throw new Error(`LossyProxy forwards to loopback only, not to ${target.host}`)
    }
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const proxy = new LossyProxy(server, (server.address() as { port: number }).port)
    server.on('connection', (client) => proxy.link(client, target))
    return proxy
  }

  /**
   * Lose the reply of the first connection whose `watch` says so (see ReplyLoss), then disarm. Existing
   * connections are watched from now on (arm while they are idle), new ones from their first byte.
   * Resolves once that connection has been cut.
   */
  loseReply(watch: (fresh: boolean) => ReplyLoss): Promise<void> {
    this.watch = watch
    for (const link of this.links) link.loss = watch(false)
    return new Promise((resolve) => {
      this.lost = resolve
    })
  }

  /**
   * Make every open connection half-open: from now on nothing is forwarded on them in either direction and
   * they stay open, as when the server's host or the network path dies without a reset. Connections made
   * after the call work normally. A frozen connection is let go when the client closes its end.
   *
   * With `match`, only the connections whose client traffic so far (latin1 text of the first 64 KiB the client
   * sent, protocol framing included) it accepts, e.g. `(sent) => sent.includes('LISTEN')` for one connection
   * among healthy ones. Returns how many connections it froze.
   */
  freeze(match?: (sent: string) => boolean): number {
    let frozen = 0
    for (const link of this.links) {
      if (link.frozen || (match && !match(link.sent))) continue
      link.frozen = true
      frozen++
    }
    return frozen
  }

  /**
   * While `on`, every connection accepted is frozen from its first byte (see `freeze`): the server can no
   * longer be reached, though connections already open may still work. Off again: new connections work;
   * those frozen meanwhile stay frozen until their client closes them.
   */
  freezeNew(on: boolean): void {
    this.freezingNew = on
  }

  /** Connections the proxy has accepted so far: a client that reconnected shows here. */
  get accepted(): number {
    return this.connections
  }

  /** Cut every connection and stop listening. */
  close(): void {
    for (const link of this.links) this.drop(link)
    this.server.close()
  }

  private link(client: Socket, target: { host: string; port: number }): void {
    this.connections++
    const upstream = connect(target.port, target.host)
    const link: Link = {
      client,
      upstream,
      loss: this.watch?.(true) ?? null,
      withholding: false,
      held: Buffer.alloc(0),
      frozen: this.freezingNew,
      sent: '',
    }
    this.links.add(link)
    client.on('data', (chunk: Buffer) => {
      if (link.frozen) return
      if (link.sent.length < SENT_KEPT) link.sent += chunk.toString('latin1', 0, SENT_KEPT - link.sent.length)
      upstream.write(bytes(chunk))
      if (link.loss && !link.withholding && link.loss.sent(chunk)) {
        link.withholding = true
        this.disarm(link)
      }
    })
    upstream.on('data', (chunk: Buffer) => {
      if (link.frozen) return
      if (!link.withholding) {
        client.write(bytes(chunk))
        return
      }
      link.held = Buffer.concat([bytes(link.held), bytes(chunk)])
      if (link.loss?.cut(link.held)) {
        this.drop(link)
        const lost = this.lost
        this.lost = null
        lost?.()
      }
    })
    const close = () => this.drop(link)
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
  }

  /** Only the victim keeps watching. */
  private disarm(victim: Link): void {
    this.watch = null
    for (const link of this.links) if (link !== victim) link.loss = null
  }

  private drop(link: Link): void {
    link.client.destroy()
    link.upstream.destroy()
    this.links.delete(link)
  }
}

export { type FreezeDrillOptions, type FreezeDrillReport, freezeDrill } from './drill.js'
