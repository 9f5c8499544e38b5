/** Statements of the Storage contract and of queue flags and locks. Placeholders as in jobs.ts. */

import { laneKey, push } from '../row.js'

/** The queue of job $2 (cancel and remove take its lane's lock, LANE_SHARED). */
export const QUEUE_OF = `
select j.queue from {{schema}}.jobs j where j.ns = $1::text and j.id = $2::text
`

/** The lane lock of queue $2 shared, as an add holds it (see laneKey in row.ts). */
export const LANE_SHARED = `select pg_advisory_xact_lock_shared(${laneKey('$2::text')})`

/** One record by primary key. */
export const GET = `
select {{job}} from {{schema}}.jobs j where j.ns = $1::text and j.id = $2::text
`

/**
 * Records by id, $2 a JSON array of ids: the follow-up of ADD for ids it did not insert. `= any (array)`
 * keeps it a primary-key lookup whatever the planner guesses about the JSON's size.
 */
export const LOOKUP = `
select {{job}} from {{schema}}.jobs j
where j.ns = $1::text and j.id = any (array(select jsonb_array_elements_text($2::text::jsonb)))
`

/**
 * A page of one queue (newest first) for the statuses in $3, after cursor $4 (a seq), at most $5 rows.
 * One lateral index range read per status, each cut at $5, then merged: a bounded read whatever the
 * table size, and stable under concurrent inserts (new rows get a higher seq, so they never shift later
 * pages). Active jobs are read from `jobs_active` (claims write no `jobs_list` entry), every other status
 * from `jobs_list`; the literal `x.status <> 'active'` lets generic plans prove that index's predicate.
 * The page's rows are then read by primary key (`= any (array(...))`: a generic plan cannot size the
 * page and would otherwise hash-join it against the whole table).
 */
export const LIST_QUEUE = `
with k as (
  select p.id, p.seq
  from jsonb_array_elements_text($3::text::jsonb) as s(status)
  cross join lateral (
    (select x.id, x.seq from {{schema}}.jobs x
      where x.ns = $1::text and x.queue = $2::text and x.status = s.status and x.status <> 'active'
        and x.seq < $4::bigint
      order by x.seq desc
      limit $5::int)
    union all
    (select x.id, x.seq from {{schema}}.jobs x
      where x.ns = $1::text and x.queue = $2::text and x.status = 'active' and s.status = 'active'
        and x.seq < $4::bigint
      order by x.seq desc
      limit $5::int)
  ) p
  order by p.seq desc
  limit $5::int
)
select {{job}}, j.seq::text
from k
join {{schema}}.jobs j on j.ns = $1::text and j.id = k.id
where j.id = any (array(select k2.id from k k2))
order by k.seq desc
`

/**
 * As LIST_QUEUE across every queue of the namespace, without an index of its own: the queues are found
 * by a skip scan of `jobs_list`'s (ns, queue) prefix (one index probe per queue), then each queue and
 * status is a range read cut at $4, as in LIST_QUEUE. Active jobs of the namespace come from
 * `jobs_active` and are sorted (a set bounded by the consumers' concurrency). Cost grows with the number
 * of queues, not of jobs.
 */
export const LIST_ALL = `
with recursive qs(queue) as (
  (select x.queue from {{schema}}.jobs x
    where x.ns = $1::text and x.status <> 'active'
    order by x.queue
    limit 1)
  union all
  select (select x.queue from {{schema}}.jobs x
    where x.ns = $1::text and x.status <> 'active' and x.queue > qs.queue
    order by x.queue
    limit 1)
  from qs where qs.queue is not null
),
k as (
  select p.id, p.seq
  from jsonb_array_elements_text($2::text::jsonb) as s(status)
  cross join qs
  cross join lateral (
    select x.id, x.seq from {{schema}}.jobs x
    where x.ns = $1::text and x.queue = qs.queue and x.status = s.status and x.status <> 'active'
      and x.seq < $3::bigint
    order by x.seq desc
    limit $4::int
  ) p
  where qs.queue is not null
  union all
  (select x.id, x.seq from {{schema}}.jobs x
    where x.ns = $1::text and x.status = 'active' and x.seq < $3::bigint
      and exists (select 1 from jsonb_array_elements_text($2::text::jsonb) as t(status) where t.status = 'active')
    order by x.seq desc
    limit $4::int)
),
page as (select k.id, k.seq from k order by k.seq desc limit $4::int)
select {{job}}, j.seq::text
from page k
join {{schema}}.jobs j on j.ns = $1::text and j.id = k.id
where j.id = any (array(select p.id from page p))
order by k.seq desc
`

/**
 * Jobs per status of one queue: one index-only range count per status, of `jobs_active` for active
 * jobs and of `jobs_list` for the rest. Still proportional to the queue's rows (there is no counter
 * table: it would be a hot row on every state change), so dashboards should not poll it in a tight
 * loop; retention keeps it small.
 */
export const COUNT = `
select s.status, case
  when s.status = 'active' then (
    select count(*)::int from {{schema}}.jobs j
    where j.ns = $1::text and j.queue = $2::text and j.status = 'active')
  else (
    select count(*)::int from {{schema}}.jobs j
    where j.ns = $1::text and j.queue = $2::text and j.status = s.status and j.status <> 'active')
  end
from unnest(array['waiting', 'delayed', 'active', 'completed', 'failed', 'cancelled', 'stalled', 'paused']) as s(status)
`

/**
 * Delete a record unless a worker holds it. The row lock makes this wait for an in-flight claim and
 * then re-check the status, so a job that was just claimed is never deleted.
 */
export const REMOVE = `
delete from {{schema}}.jobs j
where j.ns = $1::text and j.id = $2::text and j.status <> 'active'
returning 1
`

/**
 * Retention for one queue and finished status $3: delete at most $6 rows, oldest finished first, that
 * are older than $5 ms or beyond the newest $4. Both limits become one cut-off key (finished_at, seq),
 * so the delete is a single bounded range read of the partial `jobs_finished` index, never a scan of
 * the rows that are kept. The literal status list lets generic plans prove that index's predicate.
 * $4 is a bigint and $5 is cut to the time since the epoch (no job finished before it): core lets any
 * integer through (a count or an age of Number.MAX_SAFE_INTEGER for "unlimited"), and an int4 or a
 * timestamp out of range would fail every prune, the other bound's included.
 */
export const PRUNE = `
with bound as (
  (select j.finished_at as t, j.seq as s from {{schema}}.jobs j
    where j.ns = $1::text and j.queue = $2::text and j.status = $3::text
      and j.status in ('completed', 'failed', 'cancelled') and $4::bigint > 0
    order by j.finished_at desc, j.seq desc
    offset greatest($4::bigint - 1, 0)
    limit 1)
  union all
  select 'infinity'::timestamptz, 0 where $4::bigint = 0
  union all
  select now() - least($5::float8, {{schema}}.ms(now())) * interval '1 millisecond', 0 where $5::float8 is not null
),
cut as (select b.t, b.s from bound b order by b.t desc, b.s desc limit 1),
doomed as (
  select j.id from {{schema}}.jobs j, cut
  where j.ns = $1::text and j.queue = $2::text and j.status = $3::text
    and j.status in ('completed', 'failed', 'cancelled')
    and (j.finished_at, j.seq) < (cut.t, cut.s)
  order by j.finished_at, j.seq
  limit $6::int
  for update of j skip locked
)
delete from {{schema}}.jobs j using doomed d
where j.ns = $1::text and j.id = d.id and j.status = $3::text
  and j.id = any (array(select d2.id from doomed d2))
returning 1
`

export const STATE_GET = `
select s.value from {{schema}}.state s where s.ns = $1::text and s.key = $2::text
`

export const STATE_SET = `
insert into {{schema}}.state as s (ns, key, value) values ($1::text, $2::text, $3::text::jsonb)
on conflict (ns, key) do update set value = excluded.value
`

export const STATE_DELETE = `
delete from {{schema}}.state s where s.ns = $1::text and s.key = $2::text
`

/** Compare-and-set from absent ($3 ignored): the insert wins once, concurrent ones see the conflict. */
export const STATE_CAS_INSERT = `
insert into {{schema}}.state (ns, key, value) values ($1::text, $2::text, $3::text::jsonb)
on conflict (ns, key) do nothing
returning 1
`

/** Compare-and-set from $3 to $4 (jsonb equality is deep and ignores key order). */
export const STATE_CAS_UPDATE = `
update {{schema}}.state s set value = $4::text::jsonb
where s.ns = $1::text and s.key = $2::text and s.value = $3::text::jsonb
returning 1
`

/** Compare-and-delete: set to absent only if it holds $3. */
export const STATE_CAS_DELETE = `
delete from {{schema}}.state s
where s.ns = $1::text and s.key = $2::text and s.value = $3::text::jsonb
returning 1
`

/** Set the pause flag $3 of a queue; a resume wakes consumers. */
export const SET_PAUSED = `
with f as (
  insert into {{schema}}.queues as q (ns, queue, paused) values ($1::text, $2::text, $3::boolean)
  on conflict (ns, queue) do update set paused = excluded.paused
  returning q.paused
)
select (select pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', $2::text, 'd', 0)::text)
  where not $3::boolean) is null
from f
`

export const GET_FLAGS = `
select q.paused, q.disabled from {{schema}}.queues q where q.ns = $1::text and q.queue = $2::text
`

/**
 * Set the disabled flag $3. Run in one transaction with RESUME_HELD: this update takes the queue row's
 * lock, so an add that read the flag `for share` has committed before held jobs are moved.
 */
export const SET_DISABLED = `
insert into {{schema}}.queues as q (ns, queue, disabled) values ($1::text, $2::text, $3::boolean)
on conflict (ns, queue) do update set disabled = excluded.disabled
`

/**
 * After enabling: every held job of the queue back to waiting (or delayed while its run_at is ahead).
 * clock_timestamp(), not now(): this transaction may have waited on an add's share lock, and that add's
 * run_at is later than this transaction's start.
 * No index on `paused` rows: holding is rare and this runs once per enable, a bounded walk of the
 * queue's `jobs_list` range for status 'paused'.
 */
export const RESUME_HELD = `
with r as (
  update {{schema}}.jobs j set
    status = case when j.run_at > clock_timestamp() then 'delayed' else 'waiting' end,
    rowclaim = true,
    ord = case when j.lifo then -1 else 1 end * nextval('{{schema}}.job_seq'),
    timeline = ${push("{{schema}}.entry('resumed', null, null)")},
    tl_active = false
  where j.ns = $1::text and j.queue = $2::text and j.status = 'paused'
  returning 1
)
select count(*)::int, (select pg_notify({{channel}}, json_build_object('t', 'w', 'n', $1::text, 'q', $2::text, 'd', 0)::text)) is null
from r
`

/**
 * Milliseconds until the next delayed job of the queue is due (by the server's clock), or null when
 * none is delayed or the queue does not deliver (paused/disabled), so an idle waitForWork never wakes
 * for a job it cannot claim.
 */
export const NEXT_DUE = `
select greatest({{schema}}.ms(j.run_at) - {{schema}}.ms(now()), 0)
from {{schema}}.jobs j
where j.ns = $1::text and j.queue = $2::text and j.status = 'delayed'
  and not exists (select 1 from {{schema}}.queues q
    where q.ns = $1::text and q.queue = $2::text and (q.paused or q.disabled))
order by j.run_at
limit 1
`

/** Take lock $2 for owner $3 for $4 ms if it is free or expired by the server's clock. */
export const LOCK_ACQUIRE = `
insert into {{schema}}.locks as l (ns, key, owner, token, expires_at)
values ($1::text, $2::text, $3::text, gen_random_uuid()::text, now() + $4::float8 * interval '1 millisecond')
on conflict (ns, key) do update
  set owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at
  where l.expires_at <= now()
returning l.token
`

export const LOCK_RENEW = `
update {{schema}}.locks l set expires_at = now() + $4::float8 * interval '1 millisecond'
where l.ns = $1::text and l.key = $2::text and l.token = $3::text and l.expires_at > now()
returning 1
`

export const LOCK_RELEASE = `
delete from {{schema}}.locks l
where l.ns = $1::text and l.key = $2::text and l.token = $3::text and l.expires_at > now()
returning 1
`

export const LOCK_IS_OWNER = `
select 1 from {{schema}}.locks l
where l.ns = $1::text and l.key = $2::text and l.token = $3::text and l.expires_at > now()
`
