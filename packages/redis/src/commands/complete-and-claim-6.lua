--[[
  complete-and-claim: settle a job as completed and, in the same atomic step, claim the next jobs of its
  queue for the same worker (the slot the completion frees). Fenced by the lease token exactly like
  complete-3.lua: when the token is stale nothing is written and nothing is claimed.

  KEYS[1] job hash     KEYS[2] timeline (unused, see complete-3.lua)     KEYS[3] active     KEYS[4] meta     KEYS[5] wait
  KEYS[6] delayed

  ARGV[1] P            key prefix of the queue
  ARGV[2] id           the completing job
  ARGV[3] token        its lease token
  ARGV[4] result       JSON
  ARGV[5] workerId     the claiming worker
  ARGV[6] limit        at most this many jobs to claim (0: complete only)
  ARGV[7] leaseMs      lease length of the claimed jobs from Redis' now
  ARGV[8] tokenHead    random, unique per call
  ARGV[9] tokenTail    `:<queue>`
  ARGV[10] guaranteed  1|0 stored on each claimed job; '' keeps the job's own flag

  Returns { 0 } when the token is stale; else { 1, { { values, {} }, ... } } with the claimed jobs
  (none while the queue is paused or disabled).
]]
local jobKey, active = KEYS[1], KEYS[3]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local lease = fence(jobKey, ARGV[3], now)
if not lease then return { 0 } end
-- No `completed` entry is stored: the reader derives it from finishedAt (includes/common.lua).
completeJob(P, id, jobKey, active, lease[2], now, ARGV[4])
return { 1, claimJobs(KEYS[4], KEYS[5], KEYS[6], active, P, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]),
  ARGV[8], ARGV[9], ARGV[10], now) }
