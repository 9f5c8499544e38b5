import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { watchReplies } from '../src/watchdog.js'

/** The parts of an ioredis client the watchdog reads: its command queue, its socket, `connect` events. */
function fakeClient() {
  const client = new EventEmitter() as EventEmitter & {
    commandQueue: { length: number }
    stream: EventEmitter & { destroy: () => void }
  }
  const stream = new EventEmitter() as EventEmitter & { destroy: () => void }
  stream.destroy = vi.fn()
  client.commandQueue = { length: 0 }
  client.stream = stream
  client.emit('connect')
  return client
}

describe('watchReplies', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('counts the silence from when the connection started owing replies, not from the last reply', () => {
    const client = fakeClient()
    const stop = watchReplies(client as unknown as Redis, 1_000)
    client.emit('connect')
    vi.advanceTimersByTime(5_000) // idle: nothing owed
    client.commandQueue.length = 1 // a command is sent after the quiet spell
    vi.advanceTimersByTime(999)
    expect(client.stream.destroy).not.toHaveBeenCalled()
    vi.advanceTimersByTime(500) // owed for 1,000–1,250 ms with no byte back
    expect(client.stream.destroy).toHaveBeenCalledTimes(1)
    stop()
  })

  it('a connection that keeps answering is never closed, however long it stays busy', () => {
    const client = fakeClient()
    const stop = watchReplies(client as unknown as Redis, 1_000)
    client.emit('connect')
    client.commandQueue.length = 5
    for (let i = 0; i < 50; i++) {
      vi.advanceTimersByTime(400)
      client.stream.emit('data', Buffer.from('+OK\r\n'))
    }
    expect(client.stream.destroy).not.toHaveBeenCalled()
    stop()
    client.commandQueue.length = 1
    vi.advanceTimersByTime(10_000) // stopped: no more checks
    expect(client.stream.destroy).not.toHaveBeenCalled()
  })
})
