import { Namespace } from './state.js'

/** The shared heart of one memory adapter: namespaces, a clock and a token source. */
export class MemoryStore {
  private readonly spaces = new Map<string, Namespace>()
  private tokenSeq = 0
  private readonly instance = Math.random().toString(36).slice(2, 8)

  constructor(readonly now: () => number) {}

  ns(name: string): Namespace {
    let space = this.spaces.get(name)
    if (!space) {
      space = new Namespace()
      this.spaces.set(name, space)
    }
    return space
  }

  /** Unique within this adapter instance, which is all a memory lease needs. */
  newToken(): string {
    return `${this.instance}-${++this.tokenSeq}`
  }

  wakeAll(): void {
    for (const space of this.spaces.values()) for (const q of space.queues.values()) q.wake()
  }
}
