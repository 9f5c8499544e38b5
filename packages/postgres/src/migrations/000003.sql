-- 000003: a claim writes no timeline entry.
--
-- The `active` entry of an attempt is fully determined by the row ({at: ms(started_at), event: 'active',
-- workerId: worker_id, detail: 'attempt ' || attempts}: the claim sets started_at = now(), which is what
-- entry() stamps). So the claim only sets `tl_active` ("the timeline lacks the current attempt's `active`
-- entry"); every read appends that entry (timeline_of()), and every write that appends another entry
-- materializes it first (tl_push(), then tl_active = false), so the entries keep their order. Rewriting the
-- jsonb array at every claim was a quarter of the claim's server time.
--
-- `add column ... not null default false` stores the default in the catalog: no table rewrite, and the jobs
-- in the table (whose timelines already hold their entries) read false.
alter table {{schema}}.jobs add column tl_active boolean not null default false;

-- The functions below are plain LANGUAGE sql expressions that the planner inlines. PostgreSQL does not
-- inline a function that uses a parameter more than once when that argument is expensive (more than ~10
-- operators, e.g. an entry() call): it then runs the function as a separate SQL call per row, several times
-- dearer. So each parameter that may receive an expression is used once; those used more often (tl,
-- pending, n) get columns or constants.

-- The `active` entry of the current attempt, as entry('active', worker_id, 'attempt ' || attempts) wrote it
-- at claim time.
create function {{schema}}.active_entry(started_at timestamptz, worker_id text, attempts int) returns jsonb
  language sql stable parallel safe
  as $$
    select jsonb_strip_nulls(jsonb_build_object(
      'at', {{schema}}.ms(started_at), 'event', 'active', 'workerId', worker_id,
      'detail', 'attempt ' || attempts))
  $$;

-- The newest `n` entries of `tl` (n >= 1). Declared stable, not immutable: jsonb_build_object() is stable,
-- and PostgreSQL inlines no immutable function whose body is less (push_timeline() is never inlined).
create function {{schema}}.tl_tail(tl jsonb, n int) returns jsonb
  language sql stable parallel safe
  as $$
    select case
      when jsonb_array_length(tl) <= n then tl
      else jsonb_path_query_array(tl, '$[last - $n to last]', jsonb_build_object('n', n - 1))
    end
  $$;

-- A job's timeline as read: the stored entries, plus the pending `active` entry while `pending`
-- (tl_active), the newest `lim` (TIMELINE_LIMIT) kept.
create function {{schema}}.timeline_of(tl jsonb, pending boolean, started_at timestamptz, worker_id text,
    attempts int, lim int) returns jsonb
  language sql stable parallel safe
  as $$
    select case
      when pending then {{schema}}.tl_tail(tl, lim - 1)
        || jsonb_build_array({{schema}}.active_entry(started_at, worker_id, attempts))
      else tl
    end
  $$;

-- push_timeline() for a row that may have a pending `active` entry: the stored entries, the pending entry
-- (if `pending`), then `entry`, the newest `lim` kept. The caller sets tl_active = false in the same update.
create function {{schema}}.tl_push(tl jsonb, pending boolean, started_at timestamptz, worker_id text,
    attempts int, entry jsonb, lim int) returns jsonb
  language sql stable parallel safe
  as $$
    select {{schema}}.tl_tail(tl, lim - case when pending then 2 else 1 end)
      || case
        when pending then jsonb_build_array({{schema}}.active_entry(started_at, worker_id, attempts))
        else '[]'::jsonb
      end
      || jsonb_build_array(entry)
  $$;
