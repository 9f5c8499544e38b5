/** One pushed item and how to answer its caller. */
interface Entry<I, O> {
  item: I
  settle: (o: O | Error) => void
}

/** One key's items: waiting for a call, held back by a split (one part per returning call), in flight. */
interface KeyState<I, O> {
  pending: Entry<I, O>[]
  held: Entry<I, O>[][]
  inFlight: number
  scheduled: boolean
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
  private readonly keys = new Map<string, KeyState<I, O>>()

  constructor(
    private readonly run: (key: string, items: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  push(key: string, item: I): Promise<O> {
    let state = this.keys.get(key)
    if (!state) {
      state = { pending: [], held: [], inFlight: 0, scheduled: false }
      this.keys.set(key, state)
    }
    const k = state
    return new Promise<O>((resolve, reject) => {
      k.pending.push({ item, settle: (o) => (o instanceof Error ? reject(o) : resolve(o)) })
      // The rest of this tick's calls join the batch.
      this.schedule(key, k)
    })
  }

  private schedule(key: string, state: KeyState<I, O>): void {
    if (state.scheduled) return
    state.scheduled = true
    setImmediate(() => {
      state.scheduled = false
      this.flush(key, state)
    })
  }

  private flush(key: string, state: KeyState<I, O>): void {
    const { pending } = state
    if (pending.length === 0 || state.inFlight >= this.maxInFlight) return
    if (state.inFlight === 0 && this.maxInFlight > 1 && pending.length > 1 && state.held.length === 0) {
      // A fresh burst with nothing in flight: cut it into `maxInFlight` parts, send the first and hold the
      // others, one to go out each time a call returns. Calls sent together are read, run and answered
      // together, and then caller and backend take turns idling; sent one return apart they stay apart, so
      // the caller runs one part's jobs (whose completions form that part's next call) while the backend
      // works on another.
      const size = Math.ceil(pending.length / Math.min(this.maxInFlight, pending.length))
      while (pending.length > 0) state.held.push(pending.splice(0, Math.min(size, this.maxBatch)))
      this.send(key, state, state.held.shift()!)
      return
    }
    const batch = pending.splice(0, this.maxBatch)
    if (pending.length > 0) this.schedule(key, state)
    this.send(key, state, batch)
  }

  private send(key: string, state: KeyState<I, O>, batch: Entry<I, O>[]): void {
    state.inFlight++
    const done = (outcome: O[] | Error) => {
      state.inFlight--
      // A held-back part, then items that waited for this slot, go out before this batch's callers resume,
      // so they leave as the batches they were (not merged with whatever those callers add next).
      const next = state.held.shift()
      if (next) this.send(key, state, next)
      this.flush(key, state)
      if (state.inFlight === 0 && state.pending.length === 0 && state.held.length === 0 && !state.scheduled) {
        this.keys.delete(key)
      }
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
