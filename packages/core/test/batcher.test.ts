import { describe, expect, it } from 'vitest'
import { Batcher } from '../src/batcher.js'

/** A backend whose calls the test answers by hand, in any order. */
function manualBackend() {
  const calls: { key: string; items: number[]; answer: (fail?: Error) => void }[] = []
  const run = (key: string, items: number[]) =>
    new Promise<number[]>((resolve, reject) => {
      calls.push({
        key,
        items,
        answer: (fail) => (fail ? reject(fail) : resolve(items.map((i) => i * 10))),
      })
    })
  return { calls, run }
}

const turn = () => new Promise<void>((r) => setImmediate(r))

describe('Batcher', () => {
  it('coalesces the pushes of one tick into one call; each caller gets its own answer after that call', async () => {
    const { calls, run } = manualBackend()
    const b = new Batcher(run, 100, 1)
    const results = [1, 2, 3].map((n) => b.push('k', n))
    await turn()
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3]])
    let settled = false
    void Promise.all(results).then(() => {
      settled = true
    })
    await turn()
    expect(settled).toBe(false)
    calls[0]!.answer()
    expect(await Promise.all(results)).toEqual([10, 20, 30])
  })

  it('splits an idle burst in two, holds the second half until the first returns, then sends it whole', async () => {
    const { calls, run } = manualBackend()
    const b = new Batcher(run, 100, 2)
    const results = Array.from({ length: 8 }, (_, n) => b.push('k', n))
    await turn()
    await turn()
    expect(calls.map((c) => c.items)).toEqual([[0, 1, 2, 3]])
    calls[0]!.answer()
    await turn()
    // The held-back half leaves as one call, not split again.
    expect(calls.map((c) => c.items)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ])
    calls[1]!.answer()
    expect(await Promise.all(results)).toEqual([0, 10, 20, 30, 40, 50, 60, 70])
  })

  it('with three calls allowed, cuts an idle burst in three and sends one held part per returning call', async () => {
    const { calls, run } = manualBackend()
    const b = new Batcher(run, 100, 3)
    const results = Array.from({ length: 9 }, (_, n) => b.push('k', n))
    await turn()
    expect(calls.map((c) => c.items)).toEqual([[0, 1, 2]])
    void b.push('k', 9) // arrives while one call is out: goes out on its own, the held parts keep waiting
    await turn()
    expect(calls.map((c) => c.items)).toEqual([[0, 1, 2], [9]])
    calls[0]!.answer()
    await turn()
    expect(calls.map((c) => c.items)[2]).toEqual([3, 4, 5])
    calls[1]!.answer()
    await turn()
    expect(calls.map((c) => c.items)[3]).toEqual([6, 7, 8])
    for (const c of calls.slice(2)) c.answer()
    expect(await Promise.all(results)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80])
  })

  it('sends what arrives while one call is in flight as a second call, and no third while two are out', async () => {
    const { calls, run } = manualBackend()
    const b = new Batcher(run, 100, 2)
    void b.push('k', 1)
    await turn()
    expect(calls).toHaveLength(1)
    void b.push('k', 2)
    void b.push('k', 3)
    await turn()
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3]])
    void b.push('k', 4)
    await turn()
    expect(calls).toHaveLength(2)
    calls[0]!.answer()
    await turn()
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3], [4]])
  })

  it('keeps keys apart and bounds a call at maxBatch', async () => {
    const { calls, run } = manualBackend()
    const b = new Batcher(run, 2, 1)
    for (const n of [1, 2, 3]) void b.push('a', n)
    void b.push('b', 9)
    await turn()
    expect(calls.map((c) => [c.key, c.items])).toEqual([
      ['a', [1, 2]],
      ['b', [9]],
    ])
    calls[0]!.answer()
    await turn()
    expect(calls.map((c) => [c.key, c.items])[2]).toEqual(['a', [3]])
  })

  it('rejects every caller of a failed call, and later calls still go out', async () => {
    const { calls, run } = manualBackend()
    const b = new Batcher(run, 100, 1)
    const failing = [b.push('k', 1), b.push('k', 2)]
    await turn()
    calls[0]!.answer(new Error('connection lost'))
    for (const p of failing) await expect(p).rejects.toThrow('connection lost')
    const next = b.push('k', 3)
    await turn()
    calls[1]!.answer()
    expect(await next).toBe(30)
  })

  it('turns a run that throws synchronously into rejections', async () => {
    const b = new Batcher<number, number>(
      () => {
        throw new Error('bad input')
      },
      10,
      1,
    )
    await expect(b.push('k', 1)).rejects.toThrow('bad input')
  })
})
