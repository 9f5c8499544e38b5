import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP, type Socket } from 'node:net'
import type { buildConnector } from 'undici'
import { SsrfBlockedError } from './errors.js'

/** Resolve a hostname to every address it has. Inject one to control DNS (tests, split-horizon). */
export type LookupFunction = (hostname: string) => Promise<{ address: string; family: number }[]>

/** Where the guard decided a connection may go: the checked IP, never the name. */
export interface ConnectTarget {
  /** The URL's hostname (for TLS SNI and certificate checks). */
  hostname: string
  /** The resolved and checked IP address to connect to. */
  address: string
  family: 4 | 6
  port: number
  protocol: 'http:' | 'https:'
}

/**
 * Opens the socket for one connection to `target.address` and resolves once it is ready for HTTP bytes
 * (after the TLS handshake for https). Inject one to record or restrict connections (tests).
 */
export type SocketConnector = (target: ConnectTarget) => Promise<Socket> | Socket

export const defaultLookup: LookupFunction = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

type Range = readonly [bigint, number, string]

function v4(text: string): bigint | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let n = 0n
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    n = (n << 8n) | BigInt(p)
  }
  return n
}

function v6(text: string): bigint | null {
  let s = text.toLowerCase()
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  let tail: bigint | null = null
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.', lastColon)) {
    tail = v4(s.slice(lastColon + 1))
    if (tail === null) return null
    s = `${s.slice(0, lastColon + 1)}0:0`
  }
  const halves = s.split('::')
  if (halves.length > 2) return null
  const head = halves[0] ? halves[0].split(':') : []
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : []
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest]
  let n = 0n
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null
    n = (n << 16n) | BigInt(`0x${g}`)
  }
  return tail === null ? n : (n & ~0xffffffffn) | tail
}

function range4(cidr: string, label: string): Range {
  const [ip, bits] = cidr.split('/')
  return [v4(ip!)!, Number(bits), label]
}

function range6(cidr: string, label: string): Range {
  const [ip, bits] = cidr.split('/')
  return [v6(ip!)!, Number(bits), label]
}

function inRange(value: bigint, width: number, [base, bits]: Range): boolean {
  const shift = BigInt(width - bits)
  return value >> shift === base >> shift
}

/** Cloud metadata services: refused even with allowPrivateNetworks, as nothing legitimate posts webhooks there. */
const METADATA4 = [
  range4('169.254.169.254/32', 'a cloud metadata address'),
  range4('169.254.170.2/32', 'a cloud metadata address (ECS)'),
  range4('100.100.100.200/32', 'a cloud metadata address (Alibaba)'),
  range4('192.0.0.192/32', 'a cloud metadata address (Oracle)'),
]
const METADATA6 = [range6('fd00:ec2::254/128', 'a cloud metadata address (AWS IPv6)')]

const PRIVATE4 = [
  range4('0.0.0.0/8', 'in 0.0.0.0/8 ("this network")'),
  range4('10.0.0.0/8', 'a private address (10.0.0.0/8)'),
  range4('100.64.0.0/10', 'a carrier-grade NAT address (100.64.0.0/10)'),
  range4('127.0.0.0/8', 'a loopback address'),
  range4('169.254.0.0/16', 'a link-local address (169.254.0.0/16)'),
  range4('172.16.0.0/12', 'a private address (172.16.0.0/12)'),
  range4('192.0.0.0/24', 'an IETF protocol address (192.0.0.0/24)'),
  range4('192.0.2.0/24', 'a documentation address'),
  range4('192.88.99.0/24', 'a 6to4 relay address'),
  range4('192.168.0.0/16', 'a private address (192.168.0.0/16)'),
  range4('198.18.0.0/15', 'a benchmarking address (198.18.0.0/15)'),
  range4('198.51.100.0/24', 'a documentation address'),
  range4('203.0.113.0/24', 'a documentation address'),
  range4('224.0.0.0/4', 'a multicast address'),
  range4('240.0.0.0/4', 'a reserved address (240.0.0.0/4)'),
]
const PRIVATE6 = [
  range6('::/128', 'the unspecified address'),
  range6('::1/128', 'a loopback address'),
  range6('100::/64', 'a discard-only address'),
  range6('2001:2::/48', 'a benchmarking address (2001:2::/48)'),
  range6('2001:db8::/32', 'a documentation address'),
  range6('fc00::/7', 'a unique-local (private) address (fc00::/7)'),
  range6('fe80::/10', 'a link-local address (fe80::/10)'),
  range6('fec0::/10', 'a site-local address'),
  range6('ff00::/8', 'a multicast address'),
]

/** IPv6 forms that carry an IPv4 address, which is what the packets finally reach. */
const EMBEDS4: readonly [Range, (n: bigint) => bigint][] = [
  [range6('::ffff:0:0/96', 'IPv4-mapped'), (n) => n & 0xffffffffn],
  [range6('::/96', 'IPv4-compatible'), (n) => n & 0xffffffffn],
  [range6('64:ff9b::/96', 'NAT64'), (n) => n & 0xffffffffn],
  [range6('2002::/16', '6to4'), (n) => (n >> 80n) & 0xffffffffn],
]

/**
 * Why the guard refuses `address`, or null if it may be contacted. With `allowPrivate`, only cloud metadata
 * addresses are refused. An unparsable address is refused.
 */
export function blockedReason(address: string, allowPrivate: boolean): string | null {
  const family = isIP(address)
  if (family === 4) return check4(v4(address)!, allowPrivate)
  if (family !== 6) return 'not an IP address'
  const n = v6(address)
  if (n === null) return 'not an IP address'
  for (const [range, extract] of EMBEDS4) {
    if (inRange(n, 128, range) && n > 1n) return check4(extract(n), allowPrivate)
  }
  for (const r of METADATA6) if (inRange(n, 128, r)) return r[2]
  if (allowPrivate) return null
  for (const r of PRIVATE6) if (inRange(n, 128, r)) return r[2]
  return null
}

function check4(n: bigint, allowPrivate: boolean): string | null {
  for (const r of METADATA4) if (inRange(n, 32, r)) return r[2]
  if (allowPrivate) return null
  for (const r of PRIVATE4) if (inRange(n, 32, r)) return r[2]
  return null
}

/** Names that are loopback or metadata by definition, whatever a resolver says. */
function blockedName(hostname: string, allowPrivate: boolean): string | null {
  const h = hostname.toLowerCase().replace(/\.$/, '')
  if (h === 'metadata.google.internal' || h === 'metadata.goog') return 'a cloud metadata hostname'
  if (!allowPrivate && (h === 'localhost' || h.endsWith('.localhost'))) return 'a loopback hostname'
  return null
}

export interface GuardOptions {
  allowPrivate: boolean
  lookup: LookupFunction
  connect: SocketConnector
}

/**
 * Resolve, check every address, then connect to a checked address, in that order and inside the
 * connection itself: the socket goes to the IP that was checked, so a DNS answer that changes between a
 * check and the connect (rebinding) cannot redirect it. Every new connection of every redirect hop passes
 * here. If any address of a name is refused the name is refused, so a round-robin answer cannot smuggle
 * a private address past the check on a later connection.
 */
export async function guardedConnect(
  hostname: string,
  port: number,
  protocol: 'http:' | 'https:',
  options: GuardOptions,
): Promise<Socket> {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  const byName = blockedName(host, options.allowPrivate)
  if (byName) throw new SsrfBlockedError(host, null, byName)
  const literal = isIP(host)
  const addresses = literal ? [{ address: host, family: literal }] : await options.lookup(host)
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new SsrfBlockedError(host, null, 'the name resolved to no address')
  }
  for (const a of addresses) {
    const reason = blockedReason(a.address, options.allowPrivate)
    if (reason) throw new SsrfBlockedError(host, a.address, `it resolves to ${reason}`)
  }
  let lastError: unknown = null
  for (const a of addresses) {
    try {
      return await options.connect({
        hostname: host,
        address: a.address,
        family: isIP(a.address) === 6 ? 6 : 4,
        port,
        protocol,
      })
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

/** An undici connector that routes every connection through `guardedConnect`. */
export function guardedConnector(options: GuardOptions): buildConnector.connector {
  return (opts, callback) => {
    const protocol = opts.protocol === 'https:' ? 'https:' : 'http:'
    const port = opts.port ? Number(opts.port) : protocol === 'https:' ? 443 : 80
    guardedConnect(opts.hostname, port, protocol, options).then(
      (socket) => callback(null, socket),
      (error: Error) => callback(error, null),
    )
  }
}
