-- 000002: fewer index writes per job, and HOT lease renewals.
--
-- A status change can never be a HOT update (status is in every partial index's predicate), so each one
-- inserts an entry into every index whose predicate the new row meets. Under 000001 a job's add, claim
-- and completion wrote 12 index entries (pk, jobs_claim / jobs_active / jobs_finished, jobs_list_queue,
-- jobs_list_status each time); from here on they write 8, and renewing a lease touches no index.

-- listJobs across queues reads jobs_list per queue (a skip scan over its (ns, queue) prefix, see
-- LIST_ALL) instead of an index of its own, so no transition pays for it.
drop index {{schema}}.jobs_list_status;

-- listJobs / countJobs / RESUME_HELD of one queue, without active jobs: a claim (waiting → active) then
-- adds no entry here. Active jobs are listed and counted from jobs_active, which is bounded by the
-- consumers' concurrency.
drop index {{schema}}.jobs_list_queue;
create index jobs_list on {{schema}}.jobs (ns, queue, status, seq) where status <> 'active';

-- Active jobs of one queue in insertion order (listJobs, countJobs) and the stall scan, which filters the
-- queue's active jobs by lease expiry (a set bounded by the concurrency of its consumers).
-- lock_expires_at is no longer a key, so a renewal changes no indexed column and is a HOT update.
drop index {{schema}}.jobs_active;
create index jobs_active on {{schema}}.jobs (ns, queue, seq) where status = 'active';
