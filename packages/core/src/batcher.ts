/**
 * Coalesces calls made in the same tick (and while earlier calls of the same key are in flight) into
 * backend calls of at most `maxBatch` items, with at most `maxInFlight` calls per key at once. Each caller
 * gets its own answer and resolves only after the call that carried it has finished, so durability and
 * the per-item result are those of a single call.
 *
 * For adapters: group commit of settles (PostgreSQL's completions, Redis' complete-and-claim). Items that
 * find the key's calls all in flight wait for the next one to finish. With `maxInFlight` 1 this is
 * self-clocking: the next call carries everything that arrived during the previous one, so the backend
 * works on one batch while the caller runs the jobs the previous batch handed back.
 */
export class Batcher<I, O> {
  private readonly pending = new Map<string, { item: I; settle: (o: O | Error) => void }[]>()
  private readonly inFlight = new Map<string, number>()
  private readonly scheduled = new Set<string>()
  /** Keys whose pending items are the held-back half of a split. */
  private readonly heldBack = new Set<string>()

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
    // With nothing in flight, send half now and hold the rest until that call returns. Two calls sent
    // together are read, run and answered together, and then both sides take turns: the backend idles
    // while the caller runs the jobs that came back, and the other way round. Sent one call apart, they
    // stay apart: each call's jobs run (and their completions go out) while the backend works on the other.
    // Only a fresh burst splits: what a split held back goes out whole when the first half returns.
    const split = running === 0 && this.maxInFlight > 1 && queue.length > 1 && !this.heldBack.has(key)
    if (split) this.heldBack.add(key)
    else this.heldBack.delete(key)
    const batch = queue.splice(0, Math.min(split ? Math.ceil(queue.length / 2) : queue.length, this.maxBatch))
    if (queue.length === 0) this.pending.delete(key)
    else if (!split) this.schedule(key)
    this.inFlight.set(key, running + 1)
    this.send(key, batch)
  }

  private send(key: string, batch: { item: I; settle: (o: O | Error) => void }[]): void {
    const done = (outcome: O[] | Error) => {
      const left = (this.inFlight.get(key) ?? 1) - 1
      if (left === 0) this.inFlight.delete(key)
      else this.inFlight.set(key, left)
      // Items that waited for this slot go out before this batch's callers resume, so they leave as the
      // batch they were (not merged with whatever those callers add next).
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
