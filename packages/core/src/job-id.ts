import { randomFillSync } from 'node:crypto'

/**
 * Job ids made here are UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter
 * (method 1 of the RFC: it starts at a random value below 2,048 in each new millisecond and counts up, so
 * ids of one process sort in the order they were made), then 62 random bits. Still a UUID in the usual
 * 8-4-4-4-12 form, so anything that expected `randomUUID()` reads these.
 *
 * Why not version 4: a backend may index job ids (PostgreSQL's primary key is `(ns, id)`), and ids that grow
 * with time land next to each other — new entries go to the right edge of the B-tree instead of a random
 * leaf, and a batch of jobs added, claimed or completed together touches a few pages instead of one per
 * job. Measured on PostgreSQL in docs/decisions.md, "Job ids".
 */

const POOL_SIZE = 16 * 256
const pool = new Uint8Array(POOL_SIZE)
let poolOffset = POOL_SIZE
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

let lastMs = -1
let counter = 0

/** Ten random bytes from a pooled buffer (one `randomFillSync` per 409 ids). */
function randomOffset(): number {
  if (poolOffset + 10 > POOL_SIZE) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const at = poolOffset
  poolOffset += 10
  return at
}

/** A new UUIDv7 job id (see the module comment). */
export function newJobId(): string {
  let ms = Date.now()
  const r = randomOffset()
  if (ms > lastMs) {
    lastMs = ms
    counter = ((pool[r]! << 8) | pool[r + 1]!) & 0x7ff
  } else {
    // The same millisecond (or a clock that stepped back): count on; past 4,095 borrow the next millisecond,
    // which keeps ids unique and ordered without waiting.
    counter++
    if (counter > 0xfff) {
      lastMs++
      counter = 0
    }
    ms = lastMs
  }
  const high = Math.floor(ms / 0x1000000) // the top 24 of the 48 timestamp bits
  const low = ms % 0x1000000
  return (
    HEX[(high >>> 16) & 0xff]! +
    HEX[(high >>> 8) & 0xff]! +
    HEX[high & 0xff]! +
    HEX[(low >>> 16) & 0xff]! +
    '-' +
    HEX[(low >>> 8) & 0xff]! +
    HEX[low & 0xff]! +
    '-' +
    HEX[0x70 | (counter >>> 8)]! +
    HEX[counter & 0xff]! +
    '-' +
    HEX[0x80 | (pool[r + 2]! & 0x3f)]! +
    HEX[pool[r + 3]!]! +
    '-' +
    HEX[pool[r + 4]!]! +
    HEX[pool[r + 5]!]! +
    HEX[pool[r + 6]!]! +
    HEX[pool[r + 7]!]! +
    HEX[pool[r + 8]!]! +
    HEX[pool[r + 9]!]!
  )
}
