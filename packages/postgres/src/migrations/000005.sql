-- 000005: parked claims (a job added to an idle queue goes straight to a consumer waiting on it).
--
-- A claim that finds nothing leaves a park: the consumer that sent it now waits for work on the queue. An
-- add outside a caller's transaction of a job due now to a queue that is neither paused nor disabled takes
-- one open park of the queue (`for update skip locked`) and inserts the job already `active` under that
-- consumer's lease, with the token `prefix || 'R' || id`, as that claim would have; it records the job on the
-- park (`job_id`) and sends it to the consumer in its NOTIFY. The consumer's next claim deletes the park and,
-- if the job never reached it, gives the job back first. docs/postgres.md, "Parked claims", has the rules.
create table {{schema}}.parks (
  ns         text        not null,
  prefix     text        not null,
  queue      text        not null,
  worker_id  text        not null,
  lease_ms   float8      not null,
  guaranteed boolean,
  -- The key of a session-level advisory lock the consumer's LISTEN connection holds: an add pushes to the
  -- park only while someone holds it (the consumer's process is alive and listening).
  holder     bigint      not null,
  expires_at timestamptz not null,
  job_id     text,
  primary key (ns, prefix)
);
-- An add's open parks of a queue, and the sweep of expired ones.
create index parks_queue on {{schema}}.parks (ns, queue, expires_at);
