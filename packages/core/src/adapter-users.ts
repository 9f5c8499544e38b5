import type { OqronAdapters } from './contracts.js'

/** Adapters shared by several runtimes are opened by the first and closed by the last. */
const adapterUsers = new WeakMap<OqronAdapters, { users: number; opened: Promise<void> }>()

export async function openAdapters(adapters: OqronAdapters): Promise<void> {
  const entry = adapterUsers.get(adapters)
  if (entry) {
    entry.users++
    await entry.opened
    return
  }
  const opened = adapters.open ? adapters.open() : Promise.resolve()
  adapterUsers.set(adapters, { users: 1, opened })
  try {
    await opened
  } catch (error) {
    adapterUsers.delete(adapters)
    throw error
  }
}

export async function closeAdapters(adapters: OqronAdapters): Promise<void> {
  const entry = adapterUsers.get(adapters)
  if (!entry) return
  entry.users--
  if (entry.users > 0) return
  adapterUsers.delete(adapters)
  await adapters.close()
}
