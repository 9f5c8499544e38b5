--[[
  claim: lease up to `limit` due jobs of one queue to one worker, in one atomic step.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] delayed     KEYS[4] active

  ARGV[1] P            key prefix of the queue
  ARGV[2] workerId
  ARGV[3] limit        at most this many jobs
  ARGV[4] leaseMs      lease length from Redis' now
  ARGV[5] tokenHead    random, unique per call; token = tokenHead .. <n> .. tokenTail
  ARGV[6] tokenTail    `:<queue>`, so fenced writes find the queue from the token alone
  ARGV[7] guaranteed   the consumer's guaranteedWorker (1|0), stored on each claimed job so the stall
                       scan treats the run as the consumer runs it; '' keeps the job's own flag

  The work is claimJobs (includes/claim.lua): promote due delayed jobs, pop the wait set in priority
  order, and write status, token, worker, lease, attempts and the (pending) `active` entry of each job.

  Returns { json, ... } for the claimed jobs (one JSON array of the JOB_FIELDS values per job, timeline left
  out); {} while the queue is paused or disabled. A re-send of a call that claimed jobs (same tokenHead)
  returns those jobs again instead of claiming more (see replayClaim in includes/claim.lua).
]]
local mark = replyMark(ARGV[1], ARGV[5])
if redis.call('EXISTS', mark) == 1 then return replayClaim(ARGV[1], KEYS[4], ARGV[5], ARGV[6]) end
local jobs = claimJobs(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], nowMs())
if #jobs > 0 then redis.call('SET', mark, '1', 'PX', REPLY_MARK_MS) end
return jobs
