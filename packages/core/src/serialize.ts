import { UnserializableDataError } from './errors.js'

/**
 * Throws `UnserializableDataError` naming the first value that JSON would lose or reject: a cycle, a
 * BigInt, a function, a symbol, a non-finite number, a Map/Set/WeakMap or other class instance (Date is
 * allowed: it is stored as its ISO string). Runs before anything is written, so bad data stores nothing.
 */
export function assertSerializable(value: unknown, path = 'data', refuseText?: TextCheck): void {
  walk(value, path, new Set(), refuseText)
}

/**
 * For adapters whose storage refuses some JSON text (PostgreSQL's `jsonb`: a NUL character, a lone surrogate):
 * why `text`, a string or a key, cannot be stored, or null. Given to `assertSerializable`, it is asked about
 * every string and key of the value.
 */
export type TextCheck = (text: string) => string | null

/** A NUL character or a lone UTF-16 surrogate: valid in a JavaScript string and in JSON text, not in every store. */
const UNSTORABLE_CHARS = /[\0\p{Cs}]/gu

/**
 * `text` with each NUL character and lone UTF-16 surrogate replaced by U+FFFD, for text meant for people (an
 * error's name, message and stack) that every backend can store as given.
 */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE_CHARS, '\ufffd')
}

function walk(value: unknown, path: string, seen: Set<object>, refuseText: TextCheck | undefined): void {
  switch (typeof value) {
    case 'string': {
      const reason = refuseText?.(value)
      if (reason) throw new UnserializableDataError(path, reason)
      return
    }
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
    for (let i = 0; i < obj.length; i++) walk(obj[i], `${path}[${i}]`, seen, refuseText)
    seen.delete(obj)
    return
  }
  const proto = Object.getPrototypeOf(obj)
  if (proto !== Object.prototype && proto !== null) {
    const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object'
    throw new UnserializableDataError(path, `is a ${name} instance, which JSON does not preserve`)
  }
  seen.add(obj)
  for (const key of Object.keys(obj)) {
    const reason = refuseText?.(key)
    if (reason) throw new UnserializableDataError(`${path}.${key}`, reason)
    walk((obj as Record<string, unknown>)[key], `${path}.${key}`, seen, refuseText)
  }
  seen.delete(obj)
}
