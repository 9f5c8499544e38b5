/**
 * Fills a scratch schema with 1,000,000 jobs and prints EXPLAIN (ANALYZE, BUFFERS) of the hot statements,
 * with custom and with generic plans (prepared statements switch to generic plans after five runs).
 * Run from the repo root after a build:
 *   pnpm --filter @oqronkit/postgres build && node --import tsx packages/postgres/scripts/explain.ts
 * The output goes into docs/postgres.md. The schema is dropped at the end.
 */
import postgres from 'postgres'
import { migrate } from '../dist/index.js'
import { render as renderOn } from '../src/render.js'
import * as J from '../src/sql/jobs.js'
import * as S from '../src/sql/storage.js'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const schema = `oqx_${Date.now().toString(36)}`
const q = `"${schema}"`
const render = (text: string) => renderOn(text, schema)

const sql = postgres(url, { max: 1, onnotice: () => {} })

async function explain(title: string, text: string, params: unknown[]) {
  for (const mode of ['force_custom_plan', 'force_generic_plan']) {
    await sql.begin(async (tx) => {
      await tx.unsafe(`set local plan_cache_mode = ${mode}`)
      const rows = await tx.unsafe(
        `explain (analyze, buffers, costs off, timing on) ${render(text)}`,
        params as never,
      )
      console.log(
        `\n### ${title} (${mode === 'force_custom_plan' ? 'custom plan' : 'generic plan'})\n\n\`\`\``,
      )
      for (const r of rows) console.log(r['QUERY PLAN'])
      console.log('```')
      await tx.unsafe('rollback and chain') // EXPLAIN ANALYZE really runs writes: undo them
    })
  }
}

try {
  await migrate({ sql: sql as never, schema })
  console.error('filling 1,000,000 rows...')
  await sql.unsafe(`
    insert into ${q}.jobs (ns, id, queue, status, seq, ord, data, priority, run_at, created_at,
                           started_at, finished_at, lock_expires_at, token, worker_id, attempts)
    select 'explain', 'j' || g, case when g % 10 = 0 then 'other' else 'bulk' end,
      s.status, g, g, '{"n":1}'::jsonb, (g % 3), 
      case when s.status = 'delayed' then now() + interval '1 day' else now() - interval '1 hour' end,
      now() - interval '2 days' + g * interval '100 ms',
      case when s.status in ('active', 'completed', 'failed') then now() - interval '1 hour' end,
      case when s.status in ('completed', 'failed') then now() - interval '2 days' + g * interval '100 ms' end,
      case when s.status = 'active' then now() + case when g % 50 = 0 then interval '-1 minute' else interval '1 minute' end end,
      case when s.status = 'active' then md5(g::text) end,
      case when s.status = 'active' then 'w' end,
      case when s.status in ('active', 'completed', 'failed') then 1 else 0 end
    from generate_series(1, 1000000) g
    cross join lateral (select case
      when g % 1000 < 960 then 'completed'
      when g % 1000 < 980 then 'failed'
      when g % 1000 < 990 then 'waiting'
      when g % 1000 < 995 then 'delayed'
      else 'active' end as status) s`)
  await sql.unsafe(`select setval('${q}.job_seq', 1000001)`)
  await sql.unsafe(`vacuum analyze ${q}.jobs`)
  const [{ n }] = await sql.unsafe(`select count(*)::int as n from ${q}.jobs`)
  const counts = await sql.unsafe(`select status, count(*)::int as n from ${q}.jobs group by 1 order by 1`)
  console.log(`rows: ${n}; ${counts.map((c) => `${c.status} ${c.n}`).join(', ')}`)
  const [active] = await sql.unsafe(
    `select id, token from ${q}.jobs where status = 'active' and lock_expires_at > now() limit 1`,
  )

  await explain('claim (batch of 50)', J.CLAIM, ['explain', 'bulk', 50, 'w1', 30000, null, 'token:'])
  await explain('renew', J.RENEW, ['explain', active!.id, active!.token, 30000])
  // A completion's parameters (INPUT in sql/jobs.ts): every job's token by id, the by-id arm's ids, the lane
  // arm's ord span per lease prefix, the by-id arm's lane prefixes, the number of jobs.
  const byId = (input: Record<string, unknown>) => [
    'explain',
    JSON.stringify(input),
    JSON.stringify(Object.keys(input)),
    '{}',
    '[]',
    Object.keys(input).length,
  ]
  await explain('complete (one job)', J.COMPLETE_MANY, byId({ [active!.id]: [active!.token, { ok: true }] }))
  const fifty = await sql.unsafe(
    `select id, token from ${q}.jobs where status = 'active' and lock_expires_at > now() order by id limit 50`,
  )
  await explain(
    "completeAndClaim's completion (50 jobs, reporting their queue)",
    J.COMPLETE_REPORTING,
    byId(Object.fromEntries(fifty.map((r) => [r.id, [r.token, null]]))),
  )
  await explain('complete, removing (one job)', J.COMPLETE_MANY_REMOVE, byId({ [active!.id]: active!.token }))
  await explain(
    "completeAndClaim's completion, removing (50 jobs, reporting their queue)",
    J.COMPLETE_REPORTING_REMOVE,
    byId(Object.fromEntries(fifty.map((r) => [r.id, r.token]))),
  )
  // 50 lane jobs handed out under one lease, completed by range (the lane arm).
  const lane = await sql.unsafe(
    `select id, ord from ${q}.jobs where ns = 'explain' and queue = 'bulk' and status = 'waiting'
       and priority = 0 and not rowclaim order by ord limit 50`,
  )
  const prefix = '00000000-0000-4000-8000-000000000000:'
  const [lo, hi] = [lane[0]!.ord, lane[lane.length - 1]!.ord]
  await sql.unsafe(
    `insert into ${q}.leases (ns, token, queue, lo, hi, worker_id, guaranteed, started_at, expires_at)
     values ('explain', $1, 'bulk', $2, $3, 'w1', null, now(), now() + interval '1 hour')`,
    [prefix, lo, hi],
  )
  const byRange = (value: (token: string) => unknown) => [
    'explain',
    JSON.stringify(Object.fromEntries(lane.map((r) => [r.id, value(`${prefix}L${r.ord}`)]))),
    '[]',
    JSON.stringify({ [prefix]: [Number(lo), Number(hi)] }),
    '[]',
    lane.length,
  ]
  await explain(
    'complete, lane jobs by range (50 jobs of one lease)',
    J.COMPLETE_MANY,
    byRange((token) => [token, null]),
  )
  await explain(
    'complete, removing, lane jobs by range (50 jobs of one lease)',
    J.COMPLETE_MANY_REMOVE,
    byRange((token) => token),
  )
  await explain('stall scan: expired lane leases', J.EXPIRE_LEASES, ['explain', 'bulk'])
  await explain('stall scan (limit 100)', J.RECOVER_STALLED, ['explain', 'bulk', 3, 100])
  // ADD_ONE's parameters for a job `id` of `bulk` with default options, outside a caller's transaction.
  const addOne = (id: string) => ['explain', id, 'bulk', '{}', 0, 0, false, 1, true, 'hold', false]
  await explain('add (one job)', J.ADD_ONE, addOne('new-1'))
  // A consumer parked on `bulk` (migration 000005), its holder lock held by another session as its LISTEN
  // connection holds it: the add inserts the job active under the park.
  const holder = postgres(url, { max: 1, onnotice: () => {} })
  await holder`select pg_advisory_lock(4242)`
  await sql.unsafe(`insert into ${q}.parks (ns, prefix, queue, worker_id, lease_ms, guaranteed, holder, expires_at)
    values ('explain', 'park:', 'bulk', 'w1', 30000, true, 4242, now() + interval '1 minute')`)
  await explain('add (one job, pushed to a parked consumer)', J.ADD_ONE, addOne('new-2'))
  await sql.unsafe(`delete from ${q}.parks`)
  await holder.end()
  await explain('add (bulk of one)', J.ADD, [
    'explain',
    JSON.stringify([{ id: 'new-1', queue: 'bulk', data: {} }]), // default options are left out, as the adapter does
    JSON.stringify(['bulk']),
    false,
  ])
  await explain('add follow-up lookup (duplicates)', S.LOOKUP, ['explain', JSON.stringify(['j1', 'j2'])])
  await explain('waitForWork next due', S.NEXT_DUE, ['explain', 'bulk'])
  await explain('prune (keep 1000, limit 1000)', S.PRUNE, ['explain', 'bulk', 'completed', 1000, null, 1000])
  await explain('prune by age (7 h, limit 1000)', S.PRUNE, [
    'explain',
    'bulk',
    'completed',
    null,
    7 * 3600_000,
    1000,
  ])
  await explain('listJobs queue+status page', S.LIST_QUEUE, [
    'explain',
    'bulk',
    '["failed"]',
    '9223372036854775807',
    50,
  ])
  await explain('listJobs queue page (all statuses)', S.LIST_QUEUE, [
    'explain',
    'bulk',
    JSON.stringify(['waiting', 'delayed', 'active', 'completed', 'failed', 'cancelled', 'stalled', 'paused']),
    '9223372036854775807',
    50,
  ])
  await explain('listJobs queue, active page', S.LIST_QUEUE, [
    'explain',
    'bulk',
    '["active"]',
    '9223372036854775807',
    50,
  ])
  await explain('listJobs across queues (all statuses)', S.LIST_ALL, [
    'explain',
    JSON.stringify(['waiting', 'delayed', 'active', 'completed', 'failed', 'cancelled', 'stalled', 'paused']),
    '9223372036854775807',
    50,
  ])
  await explain('countJobs', S.COUNT, ['explain', 'bulk'])
} finally {
  await sql.unsafe(`drop schema if exists ${q} cascade`)
  await sql.end()
}
