-- 000004: claims that write no job row (the claim lane).
--
-- A job added outside a caller's transaction, at priority 0 and not LIFO, is a lane job while it waits:
-- `status = 'waiting' and priority = 0 and ord > 0 and not rowclaim`. A claim takes the queue's next lane
-- jobs by moving the queue's position (`lanes.pos`) past them and inserting one `leases` row for the batch
-- (its token prefix, the ord range it covers, the worker, the start and the lease's expiry); the job rows are
-- not written. A lane job at or behind the position is active under the lease whose range holds it. Every
-- other ready job (another priority, LIFO, released, stalled, retried, resumed, added inside a transaction:
-- `rowclaim`) is claimed row by row, as before. docs/postgres.md, "The claim lane", has the rules.

-- Set on every job that becomes ready other than by an add outside a transaction: it is claimed row by row.
-- The default is stored in the catalog (no table rewrite); rows in the table read false, and are lane jobs
-- if they match the lane's predicate, ahead of a position that starts at 0.
alter table {{schema}}.jobs add column rowclaim boolean not null default false;

-- Each queue's claim position: the highest `ord` a lane claim has handed out.
create table {{schema}}.lanes (
  ns    text   not null,
  queue text   not null,
  pos   bigint not null,
  primary key (ns, queue)
);

-- One row per lane claim: the jobs of `queue` with `lo <= ord <= hi` still waiting in the lane are active
-- under it, with the token `token || 'L' || ord`. Never renewed: a job's first renewal (or any other write
-- by its worker) writes its row as a row claim would have (see MATERIALIZE in sql/jobs.ts). The stall
-- scan deletes expired rows, turning the jobs still in their range into expired row claims first.
create table {{schema}}.leases (
  ns         text        not null,
  token      text        not null,
  queue      text        not null,
  lo         bigint      not null,
  hi         bigint      not null,
  worker_id  text        not null,
  guaranteed boolean,
  started_at timestamptz not null,
  expires_at timestamptz not null,
  primary key (ns, token)
);
-- The stall scan's expired leases of a queue; a job's lease is found by its queue and ord among a queue's
-- few live leases.
create index leases_expiry on {{schema}}.leases (ns, queue, expires_at);

-- The ready jobs claimed row by row, in delivery order (the lane's jobs are read from jobs_claim).
create index jobs_claim_rest on {{schema}}.jobs (ns, queue, priority desc, ord)
  where status in ('waiting', 'stalled') and (priority <> 0 or ord < 0 or rowclaim);
