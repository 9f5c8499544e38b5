import { UnserializableDataError } from './errors.js'

/**
 * Throws `UnserializableDataError` naming the first value that JSON would lose or reject: a cycle, a
 * BigInt, a function, a symbol, a non-finite number, a Map/Set/WeakMap or other class instance (Date is
 * allowed: it is stored as its ISO string). Runs before anything is written, so bad data stores nothing.
 */
export function assertSerializable(value: unknown, path = 'data'): void {
  walk(value, path, new Set())
}

function walk(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return
    case 'number':
      if (!Number.isFinite(value))
        throw new UnserializableDataError(path, `is ${value}, which JSON stores as null`)
      return
    case 'bigint':
      throw new UnserializableDataError(path, 'is a BigInt; convert it to a string or number')
    case 'function':
      throw new UnserializableDataError(path, 'is a function')
    case 'symbol':
      throw new UnserializableDataError(path, 'is a symbol')
  }
  if (value === null) return
  const obj = value as object
  if (seen.has(obj)) throw new UnserializableDataError(path, 'is a circular reference')
  if (obj instanceof Date) return
  if (Array.isArray(obj)) {
    seen.add(obj)
    for (let i = 0; i < obj.length; i++) walk(obj[i], `${path}[${i}]`, seen)
    seen.delete(obj)
    return
  }
  const proto = Object.getPrototypeOf(obj)
  if (proto !== Object.prototype && proto !== null) {
    const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object'
    throw new UnserializableDataError(path, `is a ${name} instance, which JSON does not preserve`)
  }
  seen.add(obj)
  for (const key of Object.keys(obj)) walk((obj as Record<string, unknown>)[key], `${path}.${key}`, seen)
  seen.delete(obj)
}
