/** A growable ring buffer: O(1) push/pop at both ends. */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(16)
  private head = 0
  private size = 0

  get length(): number {
    return this.size
  }

  push(item: T): void {
    this.grow()
    this.items[(this.head + this.size) & (this.items.length - 1)] = item
    this.size++
  }

  unshift(item: T): void {
    this.grow()
    this.head = (this.head - 1) & (this.items.length - 1)
    this.items[this.head] = item
    this.size++
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & (this.items.length - 1)
    this.size--
    return item
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head]
  }

  private grow(): void {
    if (this.size < this.items.length) return
    const next: (T | undefined)[] = new Array(this.items.length * 2)
    for (let i = 0; i < this.size; i++) next[i] = this.items[(this.head + i) & (this.items.length - 1)]
    this.items = next
    this.head = 0
  }
}

/** A binary min-heap ordered by `key`, ties broken by insertion order. */
export class MinHeap<T> {
  private heap: { key: number; seq: number; value: T }[] = []
  private seq = 0

  get length(): number {
    return this.heap.length
  }

  push(key: number, value: T): void {
    const heap = this.heap
    heap.push({ key, seq: this.seq++, value })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(i, parent)) break
      this.swap(i, parent)
      i = parent
    }
  }

  peekKey(): number | undefined {
    return this.heap[0]?.key
  }

  pop(): T | undefined {
    const heap = this.heap
    if (heap.length === 0) return undefined
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && this.less(l, m)) m = l
        if (r < heap.length && this.less(r, m)) m = r
        if (m === i) break
        this.swap(i, m)
        i = m
      }
    }
    return top.value
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!
    const y = this.heap[b]!
    return x.key < y.key || (x.key === y.key && x.seq < y.seq)
  }

  private swap(a: number, b: number): void {
    const t = this.heap[a]!
    this.heap[a] = this.heap[b]!
    this.heap[b] = t
  }
}
