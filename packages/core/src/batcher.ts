/** One pushed item and how to answer its caller. */
interface Entry<I, O> {
  item: I
  settle: (o: O | Error) => void
}

/**
 * Coalesces calls made in the same tick (and while earlier calls of the same key are in flight) into
 * backend calls of at most `maxBatch` items, with at most `maxInFlight` calls per key at once. Each caller
 * gets its own answer and resolves only after the call that carried it has finished, so durability and
 * the per-item result are those of a single call.
 *
 * For adapters: group commit of settles (PostgreSQL's completions, Redis' complete-and-claim). Items that
 * find the key's calls all in flight wait for the next one to finish. A burst that finds nothing in flight
 * is cut into `maxInFlight` parts sent one returning call apart (see `flush`), so the backend works on one
 * part while the caller runs the jobs another part handed back.
 */
export class Batcher<I, O> {
  private readonly pending = new Map<string, Entry<I, O>[]>()
  private readonly inFlight = new Map<string, number>()
  private readonly scheduled = new Set<string>()
  /** Parts of a split burst still to send, one per returning call. */
  private readonly held = new Map<string, Entry<I, O>[][]>()

  constructor(
    private readonly run: (key: string, items: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  push(key: string, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let queue = this.pending.get(key)
      if (!queue) {
        queue = []
        this.pending.set(key, queue)
      }
      queue.push({ item, settle: (o) => (o instanceof Error ? reject(o) : resolve(o)) })
      // The rest of this tick's calls join the batch.
      this.schedule(key)
    })
  }

  private schedule(key: string): void {
    if (this.scheduled.has(key)) return
    this.scheduled.add(key)
    setImmediate(() => {
      this.scheduled.delete(key)
      this.flush(key)
    })
  }

  private flush(key: string): void {
    const queue = this.pending.get(key)
    if (!queue || queue.length === 0) return
    const running = this.inFlight.get(key) ?? 0
    if (running >= this.maxInFlight) return
    if (running === 0 && this.maxInFlight > 1 && queue.length > 1 && !this.held.has(key)) {
      // A fresh burst with nothing in flight: cut it into `maxInFlight` parts, send the first and hold the
      // others, one to go out each time a call returns. Calls sent together are read, run and answered
      // together, and then caller and backend take turns idling; sent one return apart they stay apart, so
      // the caller runs one part's jobs (whose completions form that part's next call) while the backend
      // works on another.
      const size = Math.ceil(queue.length / Math.min(this.maxInFlight, queue.length))
      const parts: Entry<I, O>[][] = []
      while (queue.length > 0) parts.push(queue.splice(0, Math.min(size, this.maxBatch)))
      this.pending.delete(key)
      this.held.set(key, parts.slice(1))
      this.start(key, parts[0]!)
      return
    }
    const batch = queue.splice(0, this.maxBatch)
    if (queue.length === 0) this.pending.delete(key)
    else this.schedule(key)
    this.start(key, batch)
  }

  private start(key: string, batch: Entry<I, O>[]): void {
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1)
    this.send(key, batch)
  }

  private send(key: string, batch: Entry<I, O>[]): void {
    const done = (outcome: O[] | Error) => {
      const left = (this.inFlight.get(key) ?? 1) - 1
      if (left === 0) this.inFlight.delete(key)
      else this.inFlight.set(key, left)
      // A held-back part, then items that waited for this slot, go out before this batch's callers resume,
      // so they leave as the batches they were (not merged with whatever those callers add next).
      const held = this.held.get(key)
      if (held) {
        const next = held.shift()
        if (held.length === 0) this.held.delete(key)
        if (next) this.start(key, next)
      }
      this.flush(key)
      for (const [i, b] of batch.entries()) b.settle(outcome instanceof Error ? outcome : (outcome[i] as O))
    }
    let result: Promise<O[]>
    try {
      result = this.run(
        key,
        batch.map((b) => b.item),
      )
    } catch (error) {
      result = Promise.reject(error)
    }
    result.then(done, (error: unknown) => done(error instanceof Error ? error : new Error(String(error))))
  }
}
