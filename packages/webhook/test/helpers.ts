import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect, type Socket } from 'node:net'
import type { ConnectTarget, LookupFunction } from '../src/index.js'

// One polling helper for the engine's and the modules' tests.
export { waitFor } from '../../queue/test/helpers.js'

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export const quiet = { debug() {}, info() {}, warn() {}, error() {} }

export interface Received {
  at: number
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
  /** Resolves when the server saw this request's socket close, with the time. */
  closed: Promise<number>
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang'

/** A real node:http server on 127.0.0.1 that answers from a script and records every request. */
export async function testServer(reply: (req: Received, index: number) => Reply) {
  const received: Received[] = []
  let connections = 0
  const open = new Set<Socket>()
  const server: Server = createServer((req, res: ServerResponse) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => {
      body += c
    })
    req.on('end', () => {
      const closed = new Promise<number>((resolve) => req.socket.once('close', () => resolve(Date.now())))
      const entry: Received = {
        at: Date.now(),
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        closed,
      }
      received.push(entry)
      const r = reply(entry, received.length - 1)
      if (r === 'hang') return
      res.writeHead(r.status, { 'content-type': 'text/plain', ...r.headers })
      res.end(r.body ?? '')
    })
  })
  server.on('connection', (socket) => {
    connections++
    open.add(socket)
    socket.on('close', () => open.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    received,
    get connections() {
      return connections
    },
    close: async () => {
      for (const s of open) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A connector that records every address it is asked for and only ever opens sockets to 127.0.0.1: an
 * address listed in `aliases` (a stand-in for a public host) is connected to 127.0.0.1 instead, and any
 * other address throws before a packet is sent. So even a broken guard cannot reach the network.
 */
export function loopbackOnlyConnector(aliases: string[] = []) {
  const asked: ConnectTarget[] = []
  const connector = (target: ConnectTarget): Promise<Socket> => {
    asked.push(target)
    if (target.address !== '127.0.0.1' && !aliases.includes(target.address)) {
      throw new Error(`test connector: refusing to connect to ${target.address}`)
    }
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: target.port })
      socket.once('connect', () => resolve(socket))
      socket.once('error', reject)
    })
  }
  return { connector, asked }
}

/** A DNS stand-in: only the names given resolve; anything else fails like NXDOMAIN, so no real DNS is used. */
export function fakeLookup(names: Record<string, string[]>): LookupFunction & { asked: string[] } {
  const asked: string[] = []
  const lookup = async (hostname: string) => {
    asked.push(hostname)
    const addresses = names[hostname]
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(lookup, { asked })
}
