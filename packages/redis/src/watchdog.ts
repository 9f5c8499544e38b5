import type { Redis } from 'ioredis'

/**
 * Ends a half-open connection (commands or pub/sub): one whose server or network went away without a reset
 * (a failover, a dead host, a dropped NAT entry), where every command sent waits until TCP keepalive gives
 * up, minutes later. When the connection owes replies and nothing has come back on it for `timeoutMs`, its socket is
 * destroyed; ioredis reconnects and re-sends the commands left without a reply (the adapter's claim and
 * settle scripts answer a re-send with what their first run did, so nothing runs twice). The callers just
 * see a slower reply. Checked every quarter of `timeoutMs`, so it acts after `timeoutMs`..1.25 × `timeoutMs`
 * of silence. `onDead` runs after each such close (the adapter then renews the connections that share the
 * dead path). With `probeIdle`, a connection that has owed nothing for `timeoutMs` is sent a `PING` (allowed
 * in subscriber mode), so a half-open pub/sub connection, which never owes a reply while it waits for
 * messages, is found too: within about two `timeoutMs`. Returns the function that stops it.
 */
export function watchReplies(
  client: Redis,
  timeoutMs: number,
  onDead: () => void = () => {},
  probeIdle = false,
): () => void {
  // Last reply byte, or the moment the connection started owing replies, whichever is later.
  let heard = Date.now()
  let owing = false
  const onData = () => {
    heard = Date.now()
  }
  const onConnect = () => {
    heard = Date.now()
    client.stream?.on('data', onData)
  }
  client.on('connect', onConnect)
  const timer = setInterval(
    () => {
      const waiting = client.commandQueue.length > 0
      if (waiting && !owing) heard = Date.now()
      owing = waiting
      if (!waiting && probeIdle && client.status === 'ready' && Date.now() - heard >= timeoutMs) {
        heard = Date.now()
        client.ping().catch(() => {
          // A dropped connection: ioredis reconnects; a silent one: the next checks close it.
        })
        return
      }
      if (!waiting || Date.now() - heard < timeoutMs) return
      heard = Date.now()
      client.stream?.destroy()
      onDead()
    },
    Math.max(10, Math.floor(timeoutMs / 4)),
  )
  timer.unref()
  return () => {
    clearInterval(timer)
    client.off('connect', onConnect)
  }
}
