import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Dispatcher } from 'undici'
import type { ConnectTarget } from './ssrf.js'

/** The socket connector used unless one is injected: TCP (and TLS with SNI for https) to the checked IP. */
export function connectSocket(target: ConnectTarget, timeoutMs = 10_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      target.protocol === 'https:'
        ? tlsConnect({
            host: target.address,
            port: target.port,
            // The certificate is checked against the name in the URL, not the IP we connect to.
            servername: target.hostname === target.address ? undefined : target.hostname,
            ALPNProtocols: ['http/1.1'],
          })
        : netConnect({ host: target.address, port: target.port })
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    const timer = setTimeout(() => {
      socket.destroy(new Error(`connect to ${target.address}:${target.port} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    timer.unref()
    const ready = target.protocol === 'https:' ? 'secureConnect' : 'connect'
    const onError = (error: Error) => {
      clearTimeout(timer)
      reject(error)
    }
    socket.once('error', onError)
    socket.once(ready, () => {
      clearTimeout(timer)
      socket.off('error', onError)
      resolve(socket)
    })
  })
}

export interface SendRequest {
  url: URL
  headers: Record<string, string>
  /** Headers sent to the first origin only (the endpoint's own), dropped when a redirect leaves it. */
  originHeaders: Record<string, string>
  body: string
  signal: AbortSignal
  maxRedirects: number
  /** Keep this many bytes of the answer for the timeline. */
  snippetBytes: number
  /** Read at most this many bytes of the answer (more are dropped with the connection). */
  maxResponseBytes: number
}

export interface SendResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  snippet: string
  /** Where the final answer came from. */
  url: URL
  redirects: number
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/**
 * One delivery attempt: POST the body, follow up to `maxRedirects` redirects (each new connection goes
 * through the dispatcher's SSRF-guarded connector), read a bounded answer. Rejects on network errors and
 * on abort; any HTTP status resolves.
 */
export async function send(dispatcher: Dispatcher, request: SendRequest): Promise<SendResult> {
  let url = request.url
  for (let redirects = 0; ; redirects++) {
    const sameOrigin = url.origin === request.url.origin
    const res = await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: sameOrigin ? { ...request.originHeaders, ...request.headers } : request.headers,
      body: request.body,
      signal: request.signal,
    })
    const location = res.headers.location
    if (REDIRECTS.has(res.statusCode) && typeof location === 'string' && redirects < request.maxRedirects) {
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {})
      const next = new URL(location, url)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return {
          status: res.statusCode,
          headers: res.headers,
          snippet: `redirect to ${next.protocol} refused`,
          url,
          redirects,
        }
      }
      // A webhook is a POST or nothing: every redirect re-sends the same signed body.
      url = next
      continue
    }
    const snippet = await readSnippet(res.body, request.snippetBytes, request.maxResponseBytes)
    return { status: res.statusCode, headers: res.headers, snippet, url, redirects }
  }
}

async function readSnippet(
  body: Dispatcher.ResponseData['body'],
  snippetBytes: number,
  maxBytes: number,
): Promise<string> {
  const kept: Uint8Array[] = []
  let keptBytes = 0
  let read = 0
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      read += chunk.length
      if (keptBytes < snippetBytes) {
        const part = chunk.subarray(0, snippetBytes - keptBytes)
        kept.push(part)
        keptBytes += part.length
      }
      // Reading to the end keeps the connection reusable; past maxBytes it is not worth it.
      if (read >= maxBytes) {
        body.destroy()
        break
      }
    }
  } catch {
    // The status is what counts; a body cut short only shortens the snippet.
  }
  const all = new Uint8Array(keptBytes)
  let offset = 0
  for (const part of kept) {
    all.set(part, offset)
    offset += part.length
  }
  // A multi-byte character cut at the end becomes U+FFFD rather than an error.
  return new TextDecoder().decode(all)
}

/** `AbortSignal.any` for Node versions whose typings lack it: aborts when any input aborts, with its reason. */
export function anySignal(signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const listeners: [AbortSignal, () => void][] = []
  const dispose = () => {
    for (const [s, l] of listeners) s.removeEventListener('abort', l)
  }
  for (const s of signals) {
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
    const l = () => {
      controller.abort(s.reason)
      dispose()
    }
    s.addEventListener('abort', l, { once: true })
    listeners.push([s, l])
  }
  return { signal: controller.signal, dispose }
}
