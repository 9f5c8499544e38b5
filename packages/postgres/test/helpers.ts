import { randomBytes } from 'node:crypto'
import type { NewJob } from '@oqronkit/core'
import { newJob as defaultJob } from '@oqronkit/testkit'
import { LossyProxy } from '@oqronkit/testkit/proxy'
import postgres from 'postgres'
import { afterAll, beforeAll } from 'vitest'
import {
  type PostgresAdapterOptions,
  type PostgresAdapters,
  postgresAdapter,
  type Sql,
} from '../src/index.js'

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const IS_CI = process.env.CI === 'true'

/**
 * Whether the PostgreSQL at DATABASE_URL answers. Locally a missing server skips the suites with a
 * message; under CI=true they run anyway and fail on the first connection, never skip.
 */
export async function pgAvailable(): Promise<boolean> {
  const sql = postgres(DATABASE_URL, { max: 1, connect_timeout: 3, onnotice: () => {} })
  try {
    await sql`select 1`
    return true
  } catch (err) {
    if (!IS_CI)
      console.warn(`PostgreSQL tests skipped: no server at ${DATABASE_URL} (${(err as Error).message})`)
    return false
  } finally {
    await sql.end({ timeout: 1 })
  }
}

export const runSuite = (await pgAvailable()) || IS_CI

export function randomSchema(prefix = 'oqt'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`
}

export function adminSql(): Sql {
  return postgres(DATABASE_URL, { max: 2, onnotice: () => {} }) as unknown as Sql
}

export async function dropSchema(schema: string): Promise<void> {
  const sql = adminSql()
  try {
    await sql.unsafe(`drop schema if exists "${schema}" cascade`)
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** A migrated adapter on its own random schema; `cleanup` closes it and drops the schema. */
export async function openAdapter(
  options: PostgresAdapterOptions = {},
): Promise<{ a: PostgresAdapters; schema: string; cleanup: () => Promise<void> }> {
  const schema = options.schema ?? randomSchema()
  const a = postgresAdapter({ url: DATABASE_URL }, { ...options, schema })
  await a.open()
  return {
    a,
    schema,
    cleanup: async () => {
      await a.close()
      await dropSchema(schema)
    },
  }
}

let seq = 0
/** testkit's default job for `queue` with a traceable id and data `{ n }`, `patch` on top. */
export function newJob(queue: string, patch: Partial<NewJob> = {}): NewJob {
  seq++
  return defaultJob(queue, {
    id: `job-${process.pid}-${seq}-${randomBytes(3).toString('hex')}`,
    data: { n: seq },
    ...patch,
  })
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * One adapter for a whole describe block (opened before its tests; closed, and its schema dropped, after)
 * and a fresh namespace per `ns()` call, so the block's tests never see each other's jobs.
 */
export function sharedAdapter(options: PostgresAdapterOptions = {}) {
  let opened: { a: PostgresAdapters; cleanup: () => Promise<void> } | undefined
  let n = 0
  beforeAll(async () => {
    opened = await openAdapter(options)
  })
  afterAll(async () => {
    await opened?.cleanup()
  })
  const current = (): PostgresAdapters => {
    if (!opened) throw new Error('sharedAdapter(): used outside the tests of its describe block')
    return opened.a
  }
  const a: Pick<PostgresAdapters, 'broker' | 'storage' | 'lock'> = {
    get broker() {
      return current().broker
    },
    get storage() {
      return current().storage
    },
    get lock() {
      return current().lock
    },
  }
  return { a, ns: () => `ns-${++n}` }
}

/**
 * An adapter (not opened) whose connections go through a `LossyProxy` in front of DATABASE_URL, in a schema
 * of its own; `close()` closes the adapter and the proxy and drops the schema.
 */
export async function proxiedAdapter(options: PostgresAdapterOptions = {}) {
  const target = new URL(DATABASE_URL)
  const proxy = await LossyProxy.start({ host: target.hostname, port: Number(target.port || 5432) })
  const url = new URL(DATABASE_URL)
  url.port = String(proxy.port)
  const schema = randomSchema()
  const a = postgresAdapter({ url: url.toString() }, { schema, ...options })
  return {
    proxy,
    a,
    async close() {
      await a.close()
      proxy.close()
      await dropSchema(schema)
    },
  }
}
