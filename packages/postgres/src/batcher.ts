/**
 * Coalesces calls made in the same tick (and while a flush of the same key is in flight) into one
 * backend call. Each caller gets its own answer and resolves only after the call that carried it has
 * finished, so durability and the per-item result are those of a single call.
 */
export class Batcher<I, O> {
  private readonly pending = new Map<string, { items: I[]; settle: ((o: O | Error) => void)[] }>()
  private readonly inFlight = new Map<string, number>()

  constructor(
    private readonly run: (key: string, items: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  push(key: string, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let p = this.pending.get(key)
      if (!p) {
        p = { items: [], settle: [] }
        this.pending.set(key, p)
        setImmediate(() => this.flush(key))
      }
      p.items.push(item)
      p.settle.push((o) => (o instanceof Error ? reject(o) : resolve(o)))
      if (p.items.length >= this.maxBatch) this.flush(key)
    })
  }

  private flush(key: string): void {
    const p = this.pending.get(key)
    if (!p || p.items.length === 0) return
    const running = this.inFlight.get(key) ?? 0
    // Enough calls in flight: keep collecting; the next one to finish flushes this batch.
    if (running >= this.maxInFlight && p.items.length < this.maxBatch) return
    this.pending.delete(key)
    this.inFlight.set(key, running + 1)
    this.run(key, p.items)
      .then(
        (out) => {
          for (const [i, settle] of p.settle.entries()) settle(out[i] as O)
        },
        (err: Error) => {
          for (const settle of p.settle) settle(err)
        },
      )
      .finally(() => {
        const left = (this.inFlight.get(key) ?? 1) - 1
        if (left === 0) this.inFlight.delete(key)
        else this.inFlight.set(key, left)
        this.flush(key)
      })
  }
}
