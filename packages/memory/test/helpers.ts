import type { NewJob } from '@oqronkit/core'

/** The namespace the memory adapter's own tests use. */
export const ns = 'p/e'

/** A new job of queue `q` with id `id` (its data names it) and default options, `extra` on top. */
export const job = (id: string, extra: Partial<NewJob> = {}): NewJob => ({
  id,
  queue: 'q',
  data: { id },
  delayMs: 0,
  priority: 0,
  lifo: false,
  maxAttempts: 3,
  guaranteed: true,
  disabledBehavior: 'hold',
  ...extra,
})
