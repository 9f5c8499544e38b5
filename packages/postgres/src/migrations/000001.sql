-- 000001: the initial schema.
--
-- Append-only: a released migration is never edited; a change is a new numbered file. `{{schema}}` is
-- replaced by the quoted schema name before the file runs, inside the migration transaction that holds
-- the schema's advisory lock (see migrate.ts).

-- Milliseconds since the epoch as float8 (floored), the unit of every time in a JobRecord. Returning
-- float8 instead of timestamptz keeps row decoding independent of the driver's date parsing. A plain
-- LANGUAGE sql expression, so the planner inlines it.
create function {{schema}}.ms(t timestamptz) returns float8
  language sql stable parallel safe
  as $$ select floor(extract(epoch from t) * 1000)::float8 $$;

-- Append one timeline entry and keep the newest `lim` entries (TIMELINE_LIMIT), in SQL, so a job's
-- history never grows without bound and no client reads the array to trim it. The common case is a
-- plain append; past the limit a jsonpath slice keeps the tail (lax mode clamps the range).
create function {{schema}}.push_timeline(tl jsonb, entry jsonb, lim int) returns jsonb
  language sql immutable parallel safe
  as $$
    select case
      when jsonb_array_length(tl) < lim then tl || jsonb_build_array(entry)
      else jsonb_path_query_array(
        tl || jsonb_build_array(entry), '$[last - $n to last]', jsonb_build_object('n', lim - 1))
    end
  $$;

-- One timeline entry stamped with the server's clock; null workerId/detail are left out, as in
-- TimelineEntry where both are optional.
create function {{schema}}.entry(event text, worker_id text, detail text) returns jsonb
  language sql stable parallel safe
  as $$
    select jsonb_strip_nulls(jsonb_build_object(
      'at', {{schema}}.ms(now()), 'event', event, 'workerId', worker_id, 'detail', detail))
  $$;

-- Delivery order inside one priority. A job that becomes ready goes to the back (`ord = +nextval`) or to
-- the front (`ord = -nextval`: LIFO jobs, released and stalled jobs), the deque order users know from
-- BullMQ and that the memory adapter keeps.
create sequence {{schema}}.job_seq as bigint;

create table {{schema}}.jobs (
  ns              text        not null,
  id              text        not null,
  queue           text        not null,
  -- waiting | delayed | active | completed | failed | cancelled | stalled | paused
  status          text        not null,
  -- insertion order, the keyset of listJobs
  seq             bigint      not null,
  -- delivery order inside a priority while waiting or stalled, see job_seq
  ord             bigint      not null,
  data            jsonb,
  result          jsonb,
  error           jsonb,
  attempts        integer     not null default 0,
  max_attempts    integer     not null default 1,
  stalled_count   integer     not null default 0,
  progress        float8      not null default 0,
  progress_label  text,
  priority        integer     not null default 0,
  lifo            boolean     not null default false,
  guaranteed      boolean     not null default true,
  worker_id       text,
  token           text,
  lock_expires_at timestamptz,
  created_at      timestamptz not null default now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  run_at          timestamptz not null default now(),
  timeline        jsonb       not null default '[]'::jsonb,
  primary key (ns, id)
) with (fillfactor = 80);
-- fillfactor leaves room on each page for HOT updates (renew, progress, log change no indexed column).

-- Claim, hot arm: the next ready jobs of one queue in delivery order. `stalled` is a recovered job waiting
-- to be claimed again. Partial, so it holds only ready jobs and stays small however many finished jobs
-- the table keeps.
create index jobs_claim on {{schema}}.jobs (ns, queue, priority desc, ord)
  where status in ('waiting', 'stalled');

-- Claim, delayed arm, and the next-due lookup of waitForWork: delayed jobs by due time.
create index jobs_delayed on {{schema}}.jobs (ns, queue, run_at) where status = 'delayed';

-- Stall scan: active jobs by lease expiry, so the scan reads only expired leases.
create index jobs_active on {{schema}}.jobs (ns, queue, lock_expires_at) where status = 'active';

-- Retention: finished jobs of one status, oldest first (prune by count and by age).
create index jobs_finished on {{schema}}.jobs (ns, queue, status, finished_at, seq)
  where status in ('completed', 'failed', 'cancelled');

-- listJobs (keyset by seq, newest first) and countJobs, with a queue.
create index jobs_list_queue on {{schema}}.jobs (ns, queue, status, seq);

-- listJobs without a queue.
create index jobs_list_status on {{schema}}.jobs (ns, status, seq);

-- Per-queue flags read by add and claim.
create table {{schema}}.queues (
  ns       text    not null,
  queue    text    not null,
  paused   boolean not null default false,
  disabled boolean not null default false,
  primary key (ns, queue)
);

-- Small JSON values shared by every node (getState/setState/compareAndSetState).
create table {{schema}}.state (
  ns    text  not null,
  key   text  not null,
  value jsonb not null,
  primary key (ns, key)
);

-- TTL locks with owner tokens (LockAdapter); expiry judged by now() of the server.
create table {{schema}}.locks (
  ns         text        not null,
  key        text        not null,
  owner      text        not null,
  token      text        not null,
  expires_at timestamptz not null,
  primary key (ns, key)
);
