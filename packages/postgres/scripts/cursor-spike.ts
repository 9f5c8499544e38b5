/**
 * Spike, not a design: what a claim that writes no job row would cost on the server, against today's claim.
 * "cursor" claims the next 500 ready jobs of a queue by moving a per-queue position past them and inserting
 * one lease row for the batch (no job row is written); its completion deletes the jobs, fenced by that one
 * lease row. "today" is the adapter's CLAIM and removing COMPLETE_MANY. Both drain 20,000 jobs on one
 * connection; printed per job: the claim's and the completion's round trip, and the backend's CPU time.
 * Numbers and what the layout would still have to solve: docs/postgres.md, "Benchmark findings".
 *   pnpm --filter @oqronkit/postgres build && node --import tsx packages/postgres/scripts/cursor-spike.ts
 */
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import { migrate } from '../dist/index.js'
import { render as renderOn } from '../src/render.js'
import * as J from '../src/sql/jobs.js'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const schema = `oqc_${Date.now().toString(36)}`
const q = `"${schema}"`
const render = (text: string) => renderOn(text, schema)
const N = 20_000
const BATCH = 500

// The cursor claim: the ready jobs after the queue's position (one priority, FIFO), the position moved past
// them, one lease row for the batch.
const CURSOR_CLAIM = `
with c as (select pos from ${q}.cursor where ns = $1::text and queue = $2::text for update),
r as (
  select j.id, j.data, j.result, j.error, j.attempts, j.max_attempts, j.stalled_count, j.progress,
    j.progress_label, j.priority, j.lifo, j.guaranteed, ${q}.ms(j.created_at), ${q}.ms(j.run_at), j.ord
  from ${q}.jobs j
  where j.ns = $1::text and j.queue = $2::text and j.status in ('waiting', 'stalled') and j.priority = 0
    and j.ord > (select pos from c)
  order by j.priority desc, j.ord
  limit $3::int
),
m as (select max(r.ord) as hi, min(r.ord) as lo from r),
u as (
  update ${q}.cursor set pos = m.hi from m
  where ns = $1::text and queue = $2::text and m.hi is not null
  returning 1
),
l as (
  insert into ${q}.leases (ns, queue, lo, hi, worker, token, expires)
  select $1::text, $2::text, m.lo, m.hi, $4::text, $5::text, now() + interval '30 s' from m where m.hi is not null
  returning id
)
select r.*, (select id from l), (select count(*) from u) from r`

const CURSOR_COMPLETE = `
delete from ${q}.jobs j
where j.ns = $1::text and j.id = any (array(select jsonb_array_elements_text($2::text::jsonb)))
  and exists (select 1 from ${q}.leases l where l.id = $3::bigint and l.token = $4::text and l.expires > now())
returning j.id`

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) * 10
}

// Time-ordered ids, as the engine makes them (UUIDv7-like, increasing).
const ids = (round: number) =>
  Array.from(
    { length: N },
    (_, i) => `${(Date.now() + round).toString(16).padStart(12, '0')}-${String(i).padStart(8, '0')}`,
  )

const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { synchronous_commit: 'off' } })
try {
  await migrate({ sql: sql as never, schema })
  await sql.unsafe(
    `create table ${q}.cursor (ns text, queue text, pos bigint not null, primary key (ns, queue))`,
  )
  await sql.unsafe(
    `create table ${q}.leases (id bigserial primary key, ns text, queue text, lo bigint, hi bigint,
      worker text, token text, expires timestamptz)`,
  )
  const [{ pid }] = await sql`select pg_backend_pid() as pid`
  for (let round = 0; round < 3; round++) {
    for (const mode of ['today', 'cursor'] as const) {
      await sql.unsafe(`truncate ${q}.jobs, ${q}.leases; delete from ${q}.cursor`)
      await sql.unsafe(`insert into ${q}.cursor values ('ns', 'bench', 0)`)
      await sql.unsafe(
        `insert into ${q}.jobs (ns, id, queue, status, seq, ord, data, timeline)
         select 'ns', x.id, 'bench', 'waiting', x.n, x.n, '{"i":1}', '[]'
         from jsonb_array_elements_text($1::text::jsonb) with ordinality as x(id, n)`,
        [JSON.stringify(ids(round))],
      )
      await sql.unsafe(`vacuum analyze ${q}.jobs`)
      let claimMs = 0
      let completeMs = 0
      let done = 0
      const cpu0 = cpuMs(pid)
      for (;;) {
        const prefix = crypto.randomUUID()
        const a = performance.now()
        const rows =
          mode === 'today'
            ? await sql
                .unsafe(render(J.CLAIM), ['ns', 'bench', BATCH, 'w1', 30_000, true, `${prefix}:`], {
                  prepare: true,
                })
                .values()
            : await sql.unsafe(CURSOR_CLAIM, ['ns', 'bench', BATCH, 'w1', prefix], { prepare: true }).values()
        claimMs += performance.now() - a
        if (rows.length === 0) break
        done += rows.length
        const b = performance.now()
        const gone =
          mode === 'today'
            ? await sql.unsafe(render(J.COMPLETE_MANY_REMOVE), [
                'ns',
                JSON.stringify(rows.map((r) => ({ id: r[0], token: `${prefix}:${r[16]}` }))),
              ])
            : await sql.unsafe(CURSOR_COMPLETE, [
                'ns',
                JSON.stringify(rows.map((r) => r[0])),
                rows[0]![15],
                prefix,
              ])
        completeMs += performance.now() - b
        if (gone.length !== rows.length)
          throw new Error(`${mode}: completed ${gone.length} of ${rows.length}`)
      }
      const us = (ms: number) => ((ms * 1000) / done).toFixed(1)
      console.log(
        `${mode.padEnd(6)} claim ${us(claimMs)} µs/job, completion ${us(completeMs)} µs/job, backend CPU ${us(cpuMs(pid) - cpu0)} µs/job`,
      )
    }
  }
} finally {
  await sql.unsafe(`drop schema if exists ${q} cascade`)
  await sql.end()
}
