/**
 * Statements of a job's life (the Broker). Placeholders, filled once per adapter by `render()`:
 * `{{schema}}` the quoted schema, `{{job}}` the JobRecord columns of alias `j` (see row.ts), `{{lim}}`
 * TIMELINE_LIMIT, `{{channel}}` the NOTIFY channel as a literal.
 *
 * Every statement is a single round trip and atomic on its own. Every write that takes a token repeats
 * the fence `j.token = $3 and j.status = 'active' and j.lock_expires_at > now()` (`fence()`): a stale token
 * or a lease expired by the server's clock changes nothing. A job the claim lane handed out (migration
 * 000004, docs/postgres.md "The claim lane") is fenced by its lease row in a completion
 * (`completionFence`) and written as a row claim (MATERIALIZE) before any other write.
 *
 * A claim writes no `active` timeline entry: it sets `tl_active`, and the entry is derived from the row
 * (migration 000003). Every statement that appends an entry does so through `push()` (row.ts), which
 * writes the pending entry first, and sets `tl_active = false`.
 */

import { ADD_DEFAULTS, ADDED_COLUMNS, claimedColumns, HELD_DETAIL, laneKey, push } from '../row.js'

/**
 * The fence of a token-taking write on row `j` (`token` is the expected token), which the statement finds by
 * primary key. The status comes first: a completion's token is a lookup in its input, skipped for lane jobs. The status is compared with `(select 'active')`, an initplan, not with the literal: from the
 * literal the planner can prove the predicate of the partial index `jobs_active`, and whenever statistics
 * count few active jobs (an ANALYZE at a quiet moment) it read the row from there — `Index Cond: ns` alone,
 * filtering every active job of the namespace, per statement — instead of probing the primary key.
 */
function fence(token: string): string {
  return `j.status = (select 'active'::text) and j.token = ${token} and j.lock_expires_at > now()`
}

/**
 * Row `j` is in the claim lane (waiting, priority 0, not LIFO, not claimed row by row) and in the range of
 * lease `l`: active under that lease.
 */
function inLease(l: string): string {
  return `j.status = 'waiting' and j.priority = 0 and not j.rowclaim and j.queue = ${l}.queue
    and j.ord between ${l}.lo and ${l}.hi`
}

/**
 * What a lane job's row becomes when it is written as a row claim (`materialized`): active under its
 * lease's token, worker, start and expiry, the attempt counted, the `active` entry pending — what CLAIM
 * would have written for it.
 */
function materialized(l: string): string {
  return `status = 'active',
    token = ${l}.token || 'L' || j.ord,
    worker_id = ${l}.worker_id,
    lock_expires_at = ${l}.expires_at,
    attempts = j.attempts + 1,
    started_at = ${l}.started_at,
    finished_at = null,
    guaranteed = coalesce(${l}.guaranteed, j.guaranteed),
    tl_active = true`
}

/**
 * The fence of a completion: a row claim's (`fence`), or a lane job's: still waiting in the lane at the
 * `ord` its token names (`<prefix>L<ord>`), its lease (the prefix, 37 characters) not expired (among the
 * statement's live leases, `lv` of INPUT).
 */
function completionFence(token: string): string {
  return `(${fence(token)} or (j.status = (select 'waiting'::text) and j.priority = 0 and not j.rowclaim
    and substr(${token}, 38) = 'L' || j.ord and (select lv.o from lv) ? left(${token}, 37)))`
}

/**
 * Lane jobs written as row claims (`materialized`), so that every statement written for row claims sees
 * them as they are: active. $1 ns; by token ($2 id, $3 the token), before a worker's write other than its
 * completion (renew, progress, log, fail, release).
 */
export const MATERIALIZE = `
update {{schema}}.jobs j set ${materialized('l')}
from {{schema}}.leases l
where j.ns = $1::text and j.id = $2::text and l.ns = $1::text and l.token = left($3::text, 37)
  and substr($3::text, 38) = 'L' || j.ord and ${inLease('l')}
returning 1
`

/** MATERIALIZE of the jobs $2 (a JSON array of ids) whatever their lease: before a read or cancel by id. */
export const MATERIALIZE_IDS = `
update {{schema}}.jobs j set ${materialized('l')}
from {{schema}}.leases l
where j.ns = $1::text and j.id = any (array(select jsonb_array_elements_text($2::text::jsonb)))
  and l.ns = $1::text and ${inLease('l')}
returning 1
`

/** MATERIALIZE of every lane job of queue $2 (every queue if null): before a listing or count. */
export const MATERIALIZE_QUEUE = `
update {{schema}}.jobs j set ${materialized('l')}
from {{schema}}.leases l
where l.ns = $1::text and ($2::text is null or l.queue = $2::text) and j.ns = $1::text and ${inLease('l')}
returning 1
`

/**
 * Before each stall scan of queue $2: delete its expired leases, and write the jobs still in their ranges as
 * row claims whose lease expired, which the scan (RECOVER_STALLED) then recovers as any other. Spent leases
 * (every job of the range settled) go the same way once expired.
 */
export const EXPIRE_LEASES = `
with e as (
  delete from {{schema}}.leases l
  where l.ns = $1::text and l.queue = $2::text and l.expires_at <= now()
  returning l.*
),
u as (
  update {{schema}}.jobs j set ${materialized('l')}
  from e l
  where j.ns = $1::text and j.queue = $2::text and ${inLease('l')}
  returning 1
)
select count(*)::int from u
`

/**
 * A new job's timeline: `added`, and `held` when it is stored paused because its queue is disabled. Both
 * arrays are the same for every row of a statement (the entries are stamped with `now()`, the transaction's
 * time), so each is a scalar subquery, which PostgreSQL evaluates once per statement (an InitPlan) instead of
 * building the JSON for every row: ~20 % of a bulk add's server time.
 */
function addedTimeline(disabled: string): string {
  return `case
      when ${disabled} then (select jsonb_build_array({{schema}}.entry('added', null, null),
        {{schema}}.entry('held', null, '${HELD_DETAIL}')))
      else (select jsonb_build_array({{schema}}.entry('added', null, null)))
    end`
}

/**
 * Add one or more jobs. $1 ns, $2 a JSON array of {id, queue, data, delayMs?, priority?, lifo?,
 * maxAttempts?, guaranteed?, behavior?} (a field left out is its ADD_DEFAULTS value), read as typed records
 * (`jsonb_to_recordset`, one pass, no `->>` per field), $3 a JSON array of the queues they go to, each once.
 * Returns the inserted rows only, as ADDED_COLUMNS and the statement's time (see row.ts); the caller builds
 * their records from what it sent (`toAddedJob`) and looks up the rest (duplicates, skipped/rejected)
 * afterwards, in a new snapshot that sees the conflicting rows.
 *
 * The input is read once, straight into the insert (no CTE holds it: a materialized copy of a 1,000-job
 * input cost ~10 % of the statement); each row draws its `seq` in the subquery that reads it (a volatile
 * function in a subquery's target list runs per row, in input order; an uncorrelated lateral `select
 * nextval()` would run once for all), and the rows are inserted in input order (`order by x.n`), so of two
 * inputs with one id the first is stored.
 * The wake-up of each queue is sent once, its delay the earliest due time among the inserted rows.
 *
 * The disabled flag is read `for share`, and only where it is set: `setDisabled(false)` updates that
 * row before moving held jobs, so it waits for this insert to commit and then sees its `paused` job,
 * while an add that finds the queue enabled takes no lock at all (no MultiXact on a hot row).
 * `on conflict do nothing` waits for a concurrent insert of the same id, which makes add idempotent.
 */
function add(fresh: boolean): string {
  return `
with held as (
  select q.queue from {{schema}}.queues q
  where q.ns = $1::text and q.disabled and q.queue in (select jsonb_array_elements_text($3::text::jsonb))
  for share
),
lk as (
  select count(pg_advisory_xact_lock_shared(${laneKey('q.queue')})) as n
  from jsonb_array_elements_text($3::text::jsonb) as q(queue)
  where not $4::boolean
),
ins as (
  insert into {{schema}}.jobs as j
    (ns, id, queue, status, seq, ord, data, priority, lifo, max_attempts, guaranteed, run_at, timeline, rowclaim)
  select $1::text, x.id, x.queue,
    case when x.disabled then 'paused' when x.delay_ms > 0 then 'delayed' else 'waiting' end,
    x.seq,
    case when x.lifo then -x.seq else x.seq end,
    x.data,
    x.priority,
    x.lifo,
    x.max_attempts,
    x.guaranteed,
    now() + greatest(x.delay_ms, 0) * interval '1 millisecond',
    ${addedTimeline('x.disabled')},
    $4::boolean
  from (
    select x.id, x.queue, x.data, x.n,
      coalesce(x.delay_ms, ${ADD_DEFAULTS.delayMs}) as delay_ms,
      coalesce(x.priority, ${ADD_DEFAULTS.priority}) as priority,
      coalesce(x.lifo, ${ADD_DEFAULTS.lifo}) as lifo,
      coalesce(x.max_attempts, ${ADD_DEFAULTS.maxAttempts}) as max_attempts,
      coalesce(x.guaranteed, ${ADD_DEFAULTS.guaranteed}) as guaranteed,
      coalesce(x.behavior, '${ADD_DEFAULTS.behavior}') as behavior,
      nextval('{{schema}}.job_seq') as seq,
      exists (select 1 from held h where h.queue = x.queue) as disabled
    from rows from (jsonb_to_recordset($2::text::jsonb) as (id text, queue text, data jsonb, "delayMs" float8,
        priority int, lifo boolean, "maxAttempts" int, guaranteed boolean, behavior text))
      with ordinality as x(id, queue, data, delay_ms, priority, lifo, max_attempts, guaranteed, behavior, n)
    where (select n from lk) is not null
  ) x
  where not x.disabled or x.behavior = 'hold'
  order by x.n
${fresh ? '' : '  on conflict (ns, id) do nothing\n'}  returning ${fresh ? FRESH_ADDED_COLUMNS : ADDED_COLUMNS}
),
woken as (
  select pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', ins.queue,
    'd', greatest(min(ins.run_at) - (select {{schema}}.ms(now())), 0))::text)
  from ins
  where ins.status <> 'paused'
  group by ins.queue
)
${
  fresh
    ? `select ins.queue, ins.status, ins.run_at, ins.delay_us, (select {{schema}}.ms(now())),
  (select count(*) from woken)
from ins
group by ins.queue, ins.status, ins.run_at, ins.delay_us`
    : 'select ins.*, (select {{schema}}.ms(now())), (select count(*) from woken) from ins'
}
`
}

/**
 * What ADD_FRESH's insert returns per row: the queue, the status, the due time in ms and the delay it was
 * given in whole microseconds (`run_at - created_at`, both from the same `now()`). Not the id: the reply is one
 * row per (queue, status, due time, delay), and the caller finds each job's by its queue and its delay.
 */
const FRESH_ADDED_COLUMNS = `j.queue, j.status, {{schema}}.ms(j.run_at) as run_at,
    (extract(epoch from j.run_at - j.created_at) * 1000000)::float8 as delay_us`

export const ADD = add(false)

/**
 * ADD for jobs whose ids the runtime made (`NewJob.idGenerated`), none of which can exist yet unless this very
 * add is sent again: no `on conflict` clause, whose speculative insertion (a check of `jobs_pkey` before and
 * a confirmation record after each row) is ~15 % of the statement. A duplicate fails the whole statement
 * with a unique violation; the adapter then sends ADD, which answers it as usual. Never inside a caller's
 * transaction, where that error would abort the transaction.
 *
 * Every job is inserted unless its queue is disabled and it is not to be held, so the reply does not list
 * the rows: one row per queue, status, due time and delay (FRESH_ADDED_COLUMNS, usually a single row for a
 * whole bulk), then the statement's time and the wake-ups' count; the adapter finds each job's row by
 * its queue and delay (`perJobRows`). Building, sending and decoding a row per job was ~8 % of a 1,000-job
 * add's server time, and more of the client's.
 */
export const ADD_FRESH = add(true)

/**
 * The largest job data (JSON text, bytes) a push's NOTIFY carries; PostgreSQL refuses a payload of 8,000
 * bytes or more, and the rest of the record takes a few hundred.
 */
const PUSH_DATA_LIMIT = 7_000

/**
 * Add one job: ADD for a single job with its fields as parameters, so neither side builds or parses a JSON
 * array ($1 ns, $2 id, $3 queue, $4 data as JSON text, $5 delayMs, $6 priority, $7 lifo, $8 maxAttempts,
 * $9 guaranteed, $10 disabled behaviour, $11 inside a caller's transaction). The same rules and the same
 * reply as ADD: the disabled flag read `for share` only where set, `on conflict do nothing`, the inserted row
 * (none for a duplicate or a skipped or rejected job), consumers woken unless the job was held. The one job's
 * wake-up is sent from the final select, evaluated once for the inserted row. The single add is the pick-up
 * latency's first round trip.
 *
 * A job due now, added outside a caller's transaction to a queue that is neither paused nor disabled, goes
 * straight to a consumer parked on the queue (`pk`, migration 000005: one open park whose holder lock is
 * held, `for update skip locked`): inserted `active` under the park's prefix, worker, lease and guarantee,
 * as a row claim of that consumer's claim would be (attempt 1, `tl_active`), the park marked with the job's
 * id (`fill`), and the claimed record sent in the NOTIFY (`t: 'p'`, `k` the park's prefix, `r` the row in
 * CLAIM's columns, null when the data is too large for a payload: the consumer's next claim then gives the
 * job back and claims it). The reply still says `waiting`: the job as added. Otherwise the wake-up as ADD.
 */
export const ADD_ONE = `
with held as (
  select 1 from {{schema}}.queues q
  where q.ns = $1::text and q.queue = $3::text and q.disabled
  for share
),
lk as (
  select case when not $11::boolean then pg_advisory_xact_lock_shared(${laneKey('$3::text')}) end as n
),
pk as (
  select p.prefix, p.worker_id, p.lease_ms, p.guaranteed
  from {{schema}}.parks p
  where p.ns = $1::text and p.queue = $3::text and p.job_id is null and p.expires_at > now()
    and not $11::boolean and $5::float8 <= 0
    -- The lane's lock first, then the park's row: a claim holding the lock may delete its own park.
    and exists (select 1 from lk)
    and not ${queueClosed('$3::text')}
    and not pg_try_advisory_xact_lock_shared(p.holder)
  order by p.expires_at
  limit 1
  for update skip locked
),
r as (
  select nextval('{{schema}}.job_seq') as seq, exists (select 1 from held) as disabled, pk.*
  from lk left join pk on true
),
ins as (
  insert into {{schema}}.jobs as j
    (ns, id, queue, status, seq, ord, data, priority, lifo, max_attempts, guaranteed, run_at, timeline, rowclaim,
     token, worker_id, lock_expires_at, attempts, started_at, tl_active)
  select $1::text, $2::text, $3::text,
    case when r.disabled then 'paused' when $5::float8 > 0 then 'delayed' when r.prefix is not null then 'active'
      else 'waiting' end,
    r.seq,
    case when $7::boolean then -r.seq else r.seq end,
    $4::text::jsonb,
    $6::int,
    $7::boolean,
    $8::int,
    coalesce(r.guaranteed, $9::boolean),
    now() + greatest($5::float8, 0) * interval '1 millisecond',
    ${addedTimeline('r.disabled')},
    $11::boolean or r.prefix is not null,
    r.prefix || 'R' || $2::text,
    r.worker_id,
    now() + r.lease_ms * interval '1 millisecond',
    case when r.prefix is not null then 1 else 0 end,
    case when r.prefix is not null then now() end,
    r.prefix is not null
  from r
  where not r.disabled or $10::text = 'hold'
  on conflict (ns, id) do nothing
  returning j.id, j.queue, case when j.status = 'active' then 'waiting' else j.status end,
    {{schema}}.ms(j.run_at) as run_at, j.status = 'active' as pushed
),
fill as (
  update {{schema}}.parks p set job_id = $2::text
  from pk
  where p.ns = $1::text and p.prefix = pk.prefix and exists (select 1 from ins where ins.pushed)
  returning 1
)
select ins.id, ins.queue, ins.status, ins.run_at, {{schema}}.ms(now()),
  case
    when ins.pushed then pg_notify({{channel}}, json_build_object('t', 'p', 'n', $1::text, 'q', ins.queue,
      'k', pk.prefix, 'r', case when octet_length($4::text) <= ${PUSH_DATA_LIMIT} then json_build_array(
        $2::text, $4::text::jsonb, $8::int, coalesce(pk.guaranteed, $9::boolean), {{schema}}.ms(now()),
        {{schema}}.ms(now()), {{schema}}.ms(now()), {{schema}}.ms(now() + pk.lease_ms * interval '1 millisecond'),
        1, 0, null, case when $6::int = 0 and not $7::boolean then null
          else json_build_array(null, null, 1, 0, 0, null, $6::int, $7::boolean)::text end) end)::text)
    when ins.status <> 'paused' then pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text,
      'q', ins.queue, 'd', greatest($5::float8, 0))::text)
  end is null
from ins left join pk on ins.pushed
`

/** SQL expressions CLAIM binds its parts to. */
interface ClaimParams {
  queue: string
  limit: string
}

/** The columns of the lane arm `l` (lane jobs are not written, so they are read here). */
const LANE_READ = `j.data, j.result, j.error, j.attempts, j.max_attempts, j.stalled_count, j.progress,
    j.progress_label, j.lifo, j.guaranteed, j.created_at, j.run_at`

/**
 * The CTEs `gate`, `w`, (`ln`, `l`), `d` and `picked` of a claim (documented on CLAIM): up to `limit` due
 * jobs of `queue` in delivery order. Jobs claimed row by row (`w`: the ready jobs outside the lane, read
 * from jobs_claim_rest; `d`: due delayed jobs) are locked with `for update skip locked`; lane jobs (`l`, the
 * next ones after the queue's position) are not locked: the caller holds the lane's lock.
 */
function pickDue({ queue, limit }: ClaimParams): string {
  return `gate as (
  select 1 from {{schema}}.queues q
  where q.ns = $1::text and q.queue = ${queue} and (q.paused or q.disabled)
),
w as (
  select j.id, j.ctid as tid, j.priority, 1 as grp, j.ord::float8 as k, false as lane, j.ord
  from {{schema}}.jobs j
  where j.ns = $1::text and j.queue = ${queue} and j.status in ('waiting', 'stalled')
    and (j.priority <> 0 or j.ord < 0 or j.rowclaim)
    and not exists (select 1 from gate)
  order by j.priority desc, j.ord
  limit ${limit}
  for update skip locked
),
ln as (
  select coalesce((select x.pos from {{schema}}.lanes x where x.ns = $1::text and x.queue = ${queue}), 0) as pos
),
l as (
  select j.id, j.ctid as tid, j.priority, 1 as grp, j.ord::float8 as k, true as lane, j.ord, ${LANE_READ}
  from {{schema}}.jobs j
  where j.ns = $1::text and j.queue = ${queue} and j.status in ('waiting', 'stalled') and j.priority = 0
    and j.ord > (select pos from ln) and not j.rowclaim
    and not exists (select 1 from gate)
  order by j.priority desc, j.ord
  limit ${limit}
),
d as (
  select j.id, j.ctid as tid, j.priority,
    case when j.lifo then 0 else 2 end as grp,
    case when j.lifo then -1 else 1 end * {{schema}}.ms(j.run_at) as k, false as lane, j.ord
  from {{schema}}.jobs j
  where j.ns = $1::text and j.queue = ${queue} and j.status = 'delayed' and j.run_at <= now()
    and not exists (select 1 from gate)
  order by j.run_at
  limit ${limit}
  for update skip locked
),
picked as (
  select c.id, c.tid, c.lane, c.ord, c.grp, c.k
  from (
    select w.id, w.tid, w.priority, w.grp, w.k, w.lane, w.ord from w
    union all select l.id, l.tid, l.priority, l.grp, l.k, l.lane, l.ord from l
    union all select d.id, d.tid, d.priority, d.grp, d.k, d.lane, d.ord from d
  ) c
  order by c.priority desc, c.grp, c.k
  limit ${limit}
),
pp as (
  select jsonb_object_agg(p.id, jsonb_build_array(p.grp, p.k)) filter (where not p.lane) as m,
    {{schema}}.ms(now()) as started, min(p.id) as first,
    min(p.ord) filter (where p.lane) as lo, max(p.ord) filter (where p.lane) as hi
  from picked p
)`
}

/**
 * The update that makes the `picked` rows claimed row by row active with a fresh lease, returning what
 * differs per row (`claimedColumns` in row.ts: the start and the lease's expiry are computed
 * once, in `pp`, and sent with one row only, `p.first`), the row's delivery order key (`grp`, `k`, looked up in `pp.m`,
 * which holds the row claims only) and a null lane `ord`.
 * The token is the statement's random prefix (`tokenPrefix`, a UUID the client makes per call), `R` and the
 * job's id: unique per claimed attempt without a random draw per row. A lane job's token is the prefix, `L`
 * and its `ord`, so the two forms never meet.
 * The `active` timeline entry is not written: `tl_active` marks it pending (see `push()` in row.ts).
 *
 * The rows are found by their `ctid`, as `w` and `d` locked them (`for update` keeps that row version in place
 * until this update), with a TID scan: no index, no join, nothing the planner could get wrong when it plans
 * with a stale idea of the table's size. The claim pool forbids sequential scans (`enable_seqscan = off`),
 * so a generic plan made while the table was empty still reads the picked rows by TID once it is large;
 * before, such a plan read the `jobs_pkey` range of the whole namespace and filtered it by the picked ids
 * (~200 ms per claim of 50 at 100,000 jobs).
 */
function activatePicked({
  worker,
  leaseMs,
  guaranteed,
  tokenPrefix,
}: {
  worker: string
  leaseMs: string
  guaranteed: string
  tokenPrefix: string
}): string {
  return `update {{schema}}.jobs j set
  status = 'active',
  token = ${tokenPrefix} || 'R' || j.id,
  worker_id = ${worker},
  lock_expires_at = now() + ${leaseMs} * interval '1 millisecond',
  attempts = j.attempts + 1,
  started_at = now(),
  finished_at = null,
  guaranteed = coalesce(${guaranteed}, j.guaranteed),
  tl_active = true
from (select pp.*, {{schema}}.ms(now() + ${leaseMs} * interval '1 millisecond') as expires from pp) p
where j.ctid = any (array(select p2.tid from picked p2 where not p2.lane))
returning ${claimedColumns({ grp: '(p.m -> j.id ->> 0)::int', k: '(p.m -> j.id ->> 1)::float8', ord: 'null::bigint' })}`
}

/**
 * Claim up to $3 jobs of queue $2 for worker $4 with a lease of $5 ms, in one statement, after the lane's
 * lock in the same transaction (run as CLAIM_ROUTINE). $6, if not null, is the consumer's guarantee, stored on each claimed job. $7 is the
 * tokens' random prefix, new for every call. The records come back with an empty timeline.
 *
 * Three arms, each an ordered index range read: ready jobs outside the lane (another priority, LIFO,
 * released, stalled, retried, added in a transaction) in delivery order (priority desc, then `ord`) and
 * delayed jobs whose `run_at` has come (by run_at), both locked with `for update skip locked` so concurrent
 * claimers never wait on each other and never get the same row, and the queue's next lane jobs after its
 * position (no row lock: the lane's lock makes lane claims of a queue take turns). A due delayed job joins
 * its priority at the back as if promoted now (a LIFO one at the front). The union is cut to $3 in that
 * order; rows of an arm that were locked but not picked are unlocked at commit, a moment later. A paused or
 * disabled queue gives [] (a one-time filter, evaluated once per call).
 * The picked rows outside the lane are updated by TID (see activatePicked). The picked lane jobs are not
 * written (they are the lane arm's first rows, up to the highest picked: no join back to the picks): the
 * queue's position moves to the highest of them, and one `leases` row records the claim (the
 * prefix, the range of `ord`s, the worker, the start and the expiry). They come back with their `ord`
 * (last column), and their token is `$7 || 'L' || ord` (row.ts).
 * Rows come back unordered, each with its delivery order key (`grp`, `k`, null for a lane job, whose key
 * is (1, ord): the client sorts by priority, then these), so the statement neither numbers the picks nor looks a position up per row.
 * What a job claimed for the first time has alike (no result, attempt 1, priority 0...) comes as one null
 * column (`claimedColumns`), so the client decodes 7 values per lane job instead of 19.
 */
export const CLAIM = `
with ${pickDue({ queue: '$2::text', limit: '$3::int' })},
cl as (
${activatePicked({ worker: '$4::text', leaseMs: '$5::float8', guaranteed: '$6::boolean', tokenPrefix: '$7::text' })}
),
mv as (
  insert into {{schema}}.lanes as x (ns, queue, pos)
  select $1::text, $2::text, pp.hi from pp where pp.hi is not null
  on conflict (ns, queue) do update set pos = excluded.pos
  returning 1
),
ls as (
  insert into {{schema}}.leases (ns, token, queue, lo, hi, worker_id, guaranteed, started_at, expires_at)
  select $1::text, $7::text, $2::text, pp.lo, pp.hi, $4::text, $6::boolean, now(),
    now() + $5::float8 * interval '1 millisecond'
  from pp where pp.hi is not null
  returning 1
)
select * from cl
union all
select ${claimedColumns({ grp: 'null::int', k: 'null::float8', ord: 'j.ord' }, { guaranteed: '$6::boolean' })}
from l j,
  (select pp.*, {{schema}}.ms(now() + $5::float8 * interval '1 millisecond') as expires from pp) p
where j.ord <= p.hi
`

/**
 * A claim as one call: a function (named and installed by routines.ts; `{{routine}}` is its name) that takes
 * the claim lane's lock of queue $2 (laneKey; adds of lane jobs hold it shared until they commit), then runs
 * CLAIM with the same parameters and returns its rows. A volatile PL/pgSQL function runs each statement on a
 * fresh snapshot, so CLAIM's is taken after the lock and sees every lane job whose `ord` it could move past,
 * as in a transaction of two statements; but the client sends one statement (one Sync, no `begin` and
 * `commit` of its own). `use_column`: the result's names (CLAIM's columns, in order) never stand for
 * CLAIM's columns of the same name.
 *
 * It brings its own settings, so a claim runs alike on the adapter's claim clients and on a caller's client
 * (`{ sql }`): CLAIM's generic plan is the custom one (index range reads cut by `limit $3`, rows updated by
 * TID; checked on a 400,000-job backlog too), but PostgreSQL's own choice re-plans it on every call (it
 * cannot cost `limit $3`): force_generic_plan plans it once per connection and saves ~0.5 ms of planning
 * per claim. enable_seqscan = off keeps that one plan on the TID scan even if it was made while the table
 * was empty (every other read of CLAIM is an index range read anyway). And the claim commits without waiting
 * for the WAL flush (synchronous_commit off, until the end of its transaction): a claim lost in a server
 * crash only makes its jobs claimable again, and the tokens it handed out are then unknown to the database,
 * so every write of that run is fenced off. Settles, adds and renewals stay synchronous.
 *
 * Parks (migration 000005, docs/postgres.md "Parked claims"): $8, if not null, is the prefix of this
 * consumer's previous claim, which left a park; the park is deleted first, and a job an add pushed into it
 * that the consumer never got ($9 false) is given back, so CLAIM claims it again under $7. $10, if not null,
 * is a park's lifetime in ms: if CLAIM returned no row and the queue is neither paused nor disabled, a park
 * of prefix $7 is left for the next add, with holder lock $11 (expired parks of the queue are swept first).
 */
export const CLAIM_ROUTINE = `create function {{schema}}.{{routine}}(text, text, int, text, float8, boolean, text,
  text, boolean, float8, bigint)
returns table (id text, data jsonb, max_attempts int, guaranteed boolean, created_at float8, run_at float8,
  started_at float8, expires_at float8, grp int, k float8, ord bigint, extra text)
language plpgsql volatile
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $routine$
#variable_conflict use_column
declare
  given int;
  got int;
begin
  perform set_config('synchronous_commit', 'off', true);
  perform pg_advisory_xact_lock(${laneKey('$2::text')});
  if $8 is not null then
    with ${retirePark('$8::text', 'not $9')} select count(*) into given from r;
  end if;
  return query ${CLAIM};
  get diagnostics got = row_count;
  if got = 0 and $10 is not null then
    delete from {{schema}}.parks p where p.ns = $1::text and p.queue = $2::text and p.expires_at <= now();
    insert into {{schema}}.parks (ns, prefix, queue, worker_id, lease_ms, guaranteed, holder, expires_at)
    select $1::text, $7::text, $2::text, $4::text, $5::float8, $6::boolean, $11::bigint,
      now() + $10::float8 * interval '1 millisecond'
    where not ${queueClosed('$2::text')};
  end if;
end
$routine$`

/**
 * Renew a lease: $4 ms from the server's now. One round trip answers ok / cancelled / lost; the
 * cancelled check reads the statement's snapshot, which is enough to tell a tombstone from a lost race.
 * It reads the status by primary key (a status predicate would tempt the planner into a status index).
 */
export const RENEW = `
with r as (
  update {{schema}}.jobs j set lock_expires_at = now() + $4::float8 * interval '1 millisecond'
  where j.ns = $1::text and j.id = $2::text
    and ${fence('$3::text')}
  returning 1
)
select case
  when exists (select 1 from r) then 'ok'
  when (select j.status from {{schema}}.jobs j where j.ns = $1::text and j.id = $2::text) = 'cancelled'
    then 'cancelled'
  else 'lost'
end
`

/** Record progress $4 (0..100) with label $5 and a `progress` entry ($6 its detail). */
export const PROGRESS = `
update {{schema}}.jobs j set
  progress = $4::float8,
  progress_label = $5::text,
  timeline = ${push("{{schema}}.entry('progress', j.worker_id, $6::text)")},
  tl_active = false
where j.ns = $1::text and j.id = $2::text
  and ${fence('$3::text')}
returning 1
`

/** Append a handler's entry: event $4, detail $5. `at` is the server's clock, whatever the caller sent. */
export const LOG = `
update {{schema}}.jobs j set
  timeline = ${push('{{schema}}.entry($4::text, coalesce($6::text, j.worker_id), $5::text)')},
  tl_active = false
where j.ns = $1::text and j.id = $2::text
  and ${fence('$3::text')}
returning 1
`

/**
 * Fail with error $4 (JSON text). $5 null fails for good; otherwise the job is due again in $5 ms
 * (`delayed` if > 0) with a `retrying` entry, and consumers are woken.
 */
export const FAIL = `
with f as (
  update {{schema}}.jobs j set
    status = case when $5::float8 is null then 'failed' when $5::float8 > 0 then 'delayed' else 'waiting' end,
    rowclaim = true,
    error = $4::text::jsonb,
    token = null, lock_expires_at = null,
    worker_id = case when $5::float8 is null then j.worker_id end,
    finished_at = case when $5::float8 is null then now() end,
    run_at = case when $5::float8 is null then j.run_at else now() + $5::float8 * interval '1 millisecond' end,
    ord = case when $5::float8 is null then j.ord
      else case when j.lifo then -1 else 1 end * nextval('{{schema}}.job_seq') end,
    timeline = ${push(`case when $5::float8 is null
      then {{schema}}.entry('failed', j.worker_id, $4::text::jsonb ->> 'message')
      else {{schema}}.entry('retrying', j.worker_id,
        ($4::text::jsonb ->> 'message') || '; next attempt in ' || $5::float8 || ' ms') end`)},
    tl_active = false
  where j.ns = $1::text and j.id = $2::text
    and ${fence('$3::text')}
  returning j.queue, j.status
)
select f.status, (select pg_notify({{channel}},
  json_build_object('t', 'w', 'n', $1::text, 'q', f.queue, 'd', greatest($5::float8, 0))::text)
  from f where f.status <> 'failed') is null
from f
`

/**
 * The assignments that give row `j` back unrun: `waiting`, lease cleared, the attempt not counted, a
 * `released` entry with `detail` (an SQL expression).
 */
function released(detail: string): string {
  return `status = 'waiting', rowclaim = true,
    token = null, worker_id = null, lock_expires_at = null,
    attempts = greatest(j.attempts - 1, 0),
    run_at = now(),
    timeline = ${push(`{{schema}}.entry('released', j.worker_id, ${detail})`)},
    tl_active = false`
}

/**
 * Give the job back at once (graceful shutdown) at the front of its priority: the attempt is not
 * counted, consumers are woken.
 */
export const RELEASE = `
with r as (
  update {{schema}}.jobs j set
    ${released('null')},
    ord = -nextval('{{schema}}.job_seq')
  where j.ns = $1::text and j.id = $2::text
    and ${fence('$3::text')}
  returning j.queue
)
select pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', r.queue, 'd', 0)::text) is null
from r
`

/**
 * The CTEs `d` and `r` that retire park `prefix` of namespace $1 (migration 000005): the park is deleted, and
 * the job an add pushed into it, if `giveBack` holds and the job is still active under the park's token, goes
 * back as `release` gives one back (at the front, the attempt not counted, a `released` entry). `r` returns
 * the queue of a job given back. Used by UNPARK and by the claim routine (CLAIM_ROUTINE).
 */
function retirePark(prefix: string, giveBack: string): string {
  return `d as (
  delete from {{schema}}.parks p where p.ns = $1::text and p.prefix = ${prefix} returning p.job_id
),
r as (
  update {{schema}}.jobs j set ${released("'not picked up'")}, ord = -nextval('{{schema}}.job_seq')
  from d
  where ${giveBack} and j.ns = $1::text and j.id = d.job_id and j.status = 'active'
    and j.token = ${prefix} || 'R' || d.job_id
  returning j.queue
)`
}

/** Queue `queue` of namespace $1 is paused or disabled: no claim takes its jobs, no park waits on it. */
function queueClosed(queue: string): string {
  return `exists (select 1 from {{schema}}.queues q where q.ns = $1::text and q.queue = ${queue}
      and (q.paused or q.disabled))`
}

/**
 * Retire park $2 of namespace $1 (migration 000005) that its consumer will not claim through again: the
 * consumer stops waiting, or its adapter closes. A job an add pushed into it is given back as `release`
 * gives one back (at the front, the attempt not counted) when $3 is true: the push never reached the
 * consumer, or reached it and was never handed to the engine. With $3 false the job is the engine's (it
 * runs), and only the park goes. Wakes the queue's consumers for a job given back.
 */
export const UNPARK = `
with ${retirePark('$2::text', '$3::boolean')}
select pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', r.queue, 'd', 0)::text) is null
from r
`

/**
 * Give back what one claim statement handed out, when its reply never arrived (the connection dropped
 * after the statement was sent): the jobs of namespace $1 (queue $2, or any queue if null) that are active
 * under a token of prefix $3 (the claim's `tokenPrefix`, a UUID made for that call only) with a lease not
 * yet expired, found among the active jobs (`jobs_active`, a set bounded by the consumers' concurrency).
 * Nobody holds those tokens: the claim's caller never learnt them. Each job goes back as `release` gives
 * one back (attempt not counted, a `released` entry), keeping its place in the queue (`ord` unchanged: a
 * claim takes the front, so they stay at the front). If the claim never ran or rolled back, nothing
 * matches. The claim's lease row (the claim lane, 000004), if any, is deleted too and the lane jobs still in
 * its range go back to row claims (`rowclaim`), in their place. Returns how many jobs it gave back; wakes the
 * queues' consumers.
 *
 * $4 is the backend pid of the connection the claim was sent on, if known. While that backend is still
 * busy (in pg_stat_activity and not `idle`), the claim may not have committed yet — a connection closed by
 * the client does not stop a running statement, and the server commits it at the Sync that was sent with
 * it — so nothing is released and the third column says `pending`; the caller asks again later. Once the
 * backend is gone or idle, its statement is over, committed or not, and what it claimed is released. (With
 * `track_activities` off the state reads `disabled`: released at once, as before this check.)
 *
 * The fourth column says whether it deleted a lease. A read that wrote the lease's jobs as row claims
 * (MATERIALIZE_*) and committed while this statement ran left them active under the claim's tokens, where
 * this statement's snapshot still saw them waiting in the lane: the caller runs it once more, and the next
 * run, on a fresh snapshot and with the lease gone (nothing writes its jobs any more), releases them by token.
 */
export const RELEASE_CLAIM = `
with busy as (
  select exists (
    select 1 from pg_stat_activity a where a.pid = $4::int and a.state not in ('idle', 'disabled')
  ) as pending
),
r as (
  update {{schema}}.jobs j set
    ${released("'claim reply lost'")}
  where j.ns = $1::text and ($2::text is null or j.queue = $2::text)
    and j.status = 'active' and left(j.token, length($3::text)) = $3::text and j.lock_expires_at > now()
    and not (select pending from busy)
  returning j.queue
),
pk as (
  delete from {{schema}}.parks p
  where p.ns = $1::text and p.prefix = $3::text and not (select pending from busy)
  returning 1
),
rl as (
  delete from {{schema}}.leases l
  where l.ns = $1::text and l.token = $3::text and ($2::text is null or l.queue = $2::text)
    and l.expires_at > now() and not (select pending from busy)
  returning l.*
),
rj as (
  update {{schema}}.jobs j set
    rowclaim = true,
    timeline = ${push("{{schema}}.entry('released', l.worker_id, 'claim reply lost')")},
    tl_active = false
  from rl l
  where j.ns = $1::text and ${inLease('l')}
  returning j.queue
),
a as (select r.queue from r union all select rj.queue from rj)
select count(*)::int, (select count(pg_notify({{channel}},
  json_build_object('t', 'w', 'n', $1::text, 'q', q.queue, 'd', 0)::text)) from (select distinct queue from a) q),
  (select pending from busy), exists (select 1 from rl)
from a
`

/**
 * Stall scan of queue $2: at most $4 active jobs whose lease expired by the server's clock, oldest
 * expiry first, found among the queue's active jobs in the partial `jobs_active` index (a set bounded by
 * the consumers' concurrency; the expiry is not a key, so renewals stay HOT), locked `skip locked`, so
 * scans from every node at once split the work and each expired lease is acted on once. Guaranteed jobs
 * count the stall and become `stalled` at the front of their priority (claims take them like waiting
 * jobs); past $3 stalls they fail as poison. At-most-once jobs fail as "worker lost" and are never re-run.
 */
export const RECOVER_STALLED = `
with s as (
  select j.id from {{schema}}.jobs j
  where j.ns = $1::text and j.queue = $2::text and j.status = 'active' and j.lock_expires_at <= now()
  order by j.lock_expires_at
  limit $4::int
  for update skip locked
),
u as (
  update {{schema}}.jobs j set
    status = case when j.guaranteed and j.stalled_count + 1 <= $3::int then 'stalled' else 'failed' end,
    stalled_count = j.stalled_count + case when j.guaranteed then 1 else 0 end,
    token = null, lock_expires_at = null,
    worker_id = case when j.guaranteed and j.stalled_count + 1 <= $3::int then null else j.worker_id end,
    run_at = case when j.guaranteed and j.stalled_count + 1 <= $3::int then now() else j.run_at end,
    ord = case when j.guaranteed and j.stalled_count + 1 <= $3::int
      then -nextval('{{schema}}.job_seq') else j.ord end,
    finished_at = case when j.guaranteed and j.stalled_count + 1 <= $3::int then null else now() end,
    error = case
      when not j.guaranteed then jsonb_build_object('name', 'WorkerLostError',
        'message', 'worker lost: the lease expired before the job settled')
      when j.stalled_count + 1 > $3::int then jsonb_build_object('name', 'StalledJobError',
        'message', 'job stalled ' || (j.stalled_count + 1) || ' times (maxStalledCount ' || $3::int
          || '); failed as poison')
      else j.error
    end,
    timeline = case
      when not j.guaranteed then ${push("{{schema}}.entry('worker-lost', j.worker_id, 'at-most-once job not re-run')")}
      when j.stalled_count + 1 > $3::int then {{schema}}.push_timeline(
        ${push("{{schema}}.entry('stalled', j.worker_id, 'stall ' || (j.stalled_count + 1))")},
        {{schema}}.entry('failed', null, 'job stalled ' || (j.stalled_count + 1) || ' times (maxStalledCount '
          || $3::int || '); failed as poison'), {{lim}})
      else ${push("{{schema}}.entry('stalled', j.worker_id, 'stall ' || (j.stalled_count + 1))")}
    end,
    tl_active = false
  from s
  where j.ns = $1::text and j.id = s.id
    and j.id = any (array(select s2.id from s s2))
  returning {{job}}
)
select u.*, (select pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', $2::text, 'd', 0)::text)
  where exists (select 1 from u where u.status = 'stalled')) is null
from u
`

/**
 * Cancel: a `cancelled` tombstone for a job that is not finished (record kept, lease cleared) and a
 * NOTIFY that reaches `onCancel` on every node, sent at commit. Returns the row only if this call
 * cancelled it; the caller reads the record otherwise.
 */
export const CANCEL = `
with c as (
  update {{schema}}.jobs j set
    status = 'cancelled',
    token = null, lock_expires_at = null,
    finished_at = now(),
    timeline = ${push("{{schema}}.entry('cancelled', j.worker_id, null)")},
    tl_active = false
  where j.ns = $1::text and j.id = $2::text and j.status not in ('completed', 'failed', 'cancelled')
  returning {{job}}
)
select c.*, pg_notify({{channel}}, json_build_object('t', 'c', 'n', $1::text, 'i', c.id)::text) is null
from c
`

/**
 * Move a failed or cancelled job back to `waiting` (the back of its priority; LIFO at the front), with
 * attempts, stall count and error reset, and wake consumers.
 */
export const RETRY = `
with r as (
  update {{schema}}.jobs j set
    status = 'waiting', rowclaim = true,
    attempts = 0, stalled_count = 0, error = null,
    finished_at = null, worker_id = null,
    run_at = now(),
    ord = case when j.lifo then -1 else 1 end * nextval('{{schema}}.job_seq'),
    timeline = ${push("{{schema}}.entry('retried', null, null)")},
    tl_active = false
  where j.ns = $1::text and j.id = $2::text and j.status in ('failed', 'cancelled')
  returning {{job}}
)
select r.*, pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', r.queue, 'd', 0)::text) is null
from r
`

/** The token the input (`m`, see INPUT) holds for row `j`. */
function inputToken(remove: boolean): string {
  return remove ? '((select m from m) ->> j.id)' : '((select m from m) -> j.id ->> 0)'
}

/** How a keeping completion starts: completed, its result from the input, its lease cleared. */
const COMPLETED = `update {{schema}}.jobs j set
  status = 'completed',
  result = nullif((select m from m) -> j.id -> 1, 'null'::jsonb),
  token = null, lock_expires_at = null,
  finished_at = now(),`

/**
 * The completion of the jobs of `m`, the statement's input (INPUT): one JSON object keyed by job id (the
 * caller sends each id once per statement), each value the job's token, or with `result`s kept
 * `[token, result]`. Each job is fenced on its own by its token: it is stored `completed` or, with `remove`
 * (the consumer keeps no completed jobs, `removeOnComplete: true`), deleted — one write instead of a
 * completion and a later retention delete. Deleting the row is all `removeJob` and `prune` do too: no other
 * table refers to a job, and nobody is notified. A rejected completion (stale token, expired lease) changes
 * and deletes nothing. A kept job has its token and expiry cleared; `worker_id` stays as the last worker that
 * held the job, for the audit trail (as when a job fails for good or is cancelled). A removed job's `result`
 * is not sent. Both forms return `returning` for the completed rows.
 *
 * The rows are found by primary key (`= any (array(...))` of the object's keys) and each is matched to its
 * input by a lookup in the object, not by a join: the planner cannot size a JSON input, and with a join it
 * chose a nested loop with the table outside whenever it believed few rows would match (a table grown past
 * its statistics), so that every row scanned the whole input: 80–150 ms instead of 3–6 ms for a completion
 * of 550 jobs at 100,000 jobs (docs/postgres.md, "A completion does not join its input"). A kept job's
 * timeline gets the pending `active` entry (if any) and `completed`; a removed job's is never written.
 */
function completeInput(remove: boolean, returning: string): string {
  const token = inputToken(remove)
  // A lane job (still `waiting`) is stored as its row claim would have been: the attempt counted, the
  // start and worker of its lease, its `active` entry before `completed`.
  const lease = (i: number, type: string) => `((select lv.o from lv) -> left(${token}, 37) ->> ${i})::${type}`
  const target = remove
    ? 'delete from {{schema}}.jobs j'
    : `${COMPLETED}
  attempts = j.attempts + case when j.status = 'waiting' then 1 else 0 end,
  worker_id = case when j.status = 'waiting' then ${lease(0, 'text')} else j.worker_id end,
  started_at = case when j.status = 'waiting' then ${lease(1, 'timestamptz')} else j.started_at end,
  guaranteed = case when j.status = 'waiting' then coalesce(${lease(2, 'boolean')}, j.guaranteed)
    else j.guaranteed end,
  timeline = case when j.status = 'waiting'
    then {{schema}}.tl_push(j.timeline, true, ${lease(1, 'timestamptz')}, ${lease(0, 'text')}, j.attempts + 1,
      {{schema}}.entry('completed', ${lease(0, 'text')}, null), {{lim}})
    else ${push("{{schema}}.entry('completed', j.worker_id, null)")} end,
  tl_active = false`
  return `${target}
where j.ns = $1::text and j.id = any (array(select jsonb_array_elements_text($3::text::jsonb)))
  and ${completionFence(token)}
returning ${returning}`
}

/**
 * The lane arm of a completion: the lane jobs of `ll` (the statement's live leases, each with the span of
 * `ord`s its completions name, `a` to `b`), read as one index range per lease and completed only if the input
 * holds the job's id with exactly its lane token (`<prefix>L<ord>`) and the id is not one of the by-id arm's
 * ($3). No index descent and no lease lookup per job: ~4 µs per removed job against ~8.5 by id
 * (docs/postgres.md, "Lane completions by range"). The range is read in a lateral subquery per lease (fenced
 * by `offset 0`, ordered as jobs_claim, whose predicate its status test repeats): joined plainly, a table its
 * statistics never saw was read outside the join, every waiting job of the namespace per completion. The
 * rows are then written by TID, and their state is checked again there (a job written as a row claim since
 * the statement's snapshot is left to the by-id round, see `completion` in adapter.ts); that status test
 * compares with an initplan, as `fence()` does: with the literal, the planner read the whole partial index
 * jobs_claim (whose predicate the literal proves) filtering by TID, 80–200 ms per completion on a table its
 * statistics never saw. A kept job is written as its row claim would have been (the attempt counted, its
 * lease's worker and start, `active` before `completed`).
 */
function completeLane(remove: boolean, returning: string): string {
  const token = inputToken(remove)
  const target = remove
    ? 'delete from {{schema}}.jobs j'
    : `${COMPLETED}
  attempts = j.attempts + 1,
  worker_id = ll.worker_id,
  started_at = ll.started_at,
  guaranteed = coalesce(ll.guaranteed, j.guaranteed),
  timeline = {{schema}}.tl_push(j.timeline, true, ll.started_at, ll.worker_id, j.attempts + 1,
    {{schema}}.entry('completed', ll.worker_id, null), {{lim}}),
  tl_active = false
from ll`
  return `${target}
where j.ctid = any (array(
    select x.tid from ll, lateral (
      select j.ctid as tid from {{schema}}.jobs j
      where j.ns = $1::text and j.queue = ll.queue and j.priority = 0 and j.ord between ll.a and ll.b
        and j.status in ('waiting', 'stalled') and not j.rowclaim
        and ${token} = ll.token || 'L' || j.ord and not ($3::text::jsonb ? j.id)
      order by j.priority desc, j.ord
      offset 0
    ) x
  ))
  and j.status = (select 'waiting'::text) and not j.rowclaim and j.priority = 0${remove ? '' : ' and j.queue = ll.queue and j.ord between ll.a and ll.b'}
returning ${returning}`
}

/**
 * The inputs of a completion statement, parsed once: `m` ($2), every job's token by id (`[token, result]`
 * when results are kept); `lv`, the live leases (the claim lane's) of the lane tokens among the by-id arm's
 * jobs ($3, their ids; $5, those tokens' prefixes, each once), read once per statement as a JSON object
 * prefix → [worker, start, guarantee], for `completionFence` and the lane jobs a keeping completion writes;
 * `ll`, the live leases of the lane arm ($4, a JSON object prefix → [lowest, highest `ord`] of its jobs in
 * the batch). The client sends the prefixes once each, which costs the server less than picking them out of
 * the input.
 */
const INPUT = `m as (select $2::text::jsonb as m),
lv as (
  select coalesce(jsonb_object_agg(l.token, jsonb_build_array(l.worker_id, l.started_at, l.guaranteed)), '{}')
    as o
  from {{schema}}.leases l
  where l.ns = $1::text and l.token = any (array(select jsonb_array_elements_text($5::text::jsonb)))
    and l.expires_at > now()
),
ll as (
  select l.token, l.queue, l.worker_id, l.started_at, l.guaranteed,
    greatest(l.lo, (g.g -> l.token ->> 0)::bigint) as a, least(l.hi, (g.g -> l.token ->> 1)::bigint) as b
  from {{schema}}.leases l, (select $4::text::jsonb as g) g
  where l.ns = $1::text and l.token = any (array(select jsonb_object_keys(g.g))) and l.expires_at > now()
)`

function completeMany(remove: boolean): string {
  return `
with ${INPUT},
k as (
${completeLane(remove, 'j.id')}
),
c as (
${completeInput(remove, 'j.id')}
),
a as (select k.id from k union all select c.id from c)
select case when count(*) = $6::int then null else coalesce(jsonb_agg(a.id), '[]') end
from a
`
}

/**
 * Complete jobs of one namespace, one or many in one statement (group commit), in two arms: the lane jobs
 * by range (`completeLane`) and the others by id (`completeInput`); the inputs are described on INPUT, $6 is
 * the number of jobs. Returns one row: null if every input completed its job (the usual answer, whatever the
 * batch's size), else a JSON array of the ids of the jobs that completed. Concurrent `complete` calls are
 * coalesced into this so a busy consumer pays one commit (one WAL flush) per burst instead of one per job;
 * each caller still resolves only after the commit.
 */
export const COMPLETE_MANY = completeMany(false)

/** COMPLETE_MANY for `complete(..., { remove: true })`: the completed jobs are deleted. */
export const COMPLETE_MANY_REMOVE = completeMany(true)

function completeReporting(remove: boolean): string {
  return `
with ${INPUT},
k as (
${completeLane(remove, 'j.id, j.queue')}
),
c as (
${completeInput(remove, 'j.id, j.queue')}
),
a as (select k.id, k.queue from k union all select c.id, c.queue from c)
select case when count(*) = $6::int then null else coalesce(jsonb_agg(a.id), '[]') end, min(a.queue) from a
`
}

/**
 * COMPLETE_MANY for `completeAndClaim`: the same completions (each fenced by its own token), answered as
 * COMPLETE_MANY (null when all completed, else the ids of those that did) and with the queue of the
 * completed jobs (null if none did). The adapter then claims the successors with CLAIM_ROUTINE (the claim
 * lane needs its lock before CLAIM's snapshot). The caller batches one queue per call.
 */
export const COMPLETE_REPORTING = completeReporting(false)

/** COMPLETE_REPORTING for `completeAndClaim(..., { remove: true })`: the completed jobs are deleted. */
export const COMPLETE_REPORTING_REMOVE = completeReporting(true)
