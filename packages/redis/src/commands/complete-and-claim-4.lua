--[[
  complete-and-claim: settle a burst of jobs of one queue as completed and, in the same atomic step, claim
  the next jobs for the slots the completions free (group commit: the client coalesces the calls made in one
  tick into one script call). Each job is fenced on its own (includes/common.lua, fenceOrd): a stale token
  writes nothing for that job and frees no slot.

  KEYS[1] active     KEYS[2] meta     KEYS[3] wait     KEYS[4] delayed

  ARGV[1] P            key prefix of the queue
  ARGV[2] workerId     the claiming worker
  ARGV[3] leaseMs      lease length of the claimed jobs from Redis' now
  ARGV[4] tokenHead    random, unique per call
  ARGV[5] tokenTail    `:<queue>`
  ARGV[6] guaranteed   1|0 stored on each claimed job; '' keeps the job's own flag
  ARGV[7] remove       1: delete each completed job instead of keeping it `completed` (removeOnComplete: true)
  ARGV[8] idx          id index key prefix, or '' when the client maintains the index (Redis Cluster)
  ARGV[9] queue        queue name (what the id index of a job of this queue holds)
  ARGV[10] n           number of completions that follow, at most 200
  then per completion, 4 values: id, token, result (JSON), want (jobs to claim for it when it completes)

  Returns { flags, jobs }: flags[i] is 1 when completion i was accepted, else 0; jobs are the claimed jobs
  (one JSON string each, as claim-4.lua returns them), at most the sum of `want` over accepted completions
  (fewer when the queue runs dry; none while it is paused or disabled), in claim order. A re-send of a call
  that settled something (same tokenHead) answers the same flags and the jobs it claimed, and changes
  nothing (see replayClaim in includes/claim.lua).
]]
local active, P = KEYS[1], ARGV[1]
local remove, idx, queue = ARGV[7] == '1', ARGV[8], ARGV[9]
-- A re-send of a call that ran (see replayClaim in includes/claim.lua): the flags it answered, and the jobs
-- it claimed that are still active under its tokens (replyMark in includes/common.lua).
local mark = replyMark(P, ARGV[4])
local ran = redis.call('GET', mark)
if ran then
  local replayed = {}
  for i = 1, #ran do replayed[i] = string.byte(ran, i) - 48 end
  return { replayed, replayClaim(P, active, ARGV[4], ARGV[5]) }
end
local now = nowMs()
local nowStr = int(now)
local n = tonumber(ARGV[10])
local flags, want = {}, 0
local done, completedSet, finishedSet, keys = {}, {}, {}, {}
for i = 1, n do
  local base = 10 + (i - 1) * 4
  local id, token, result = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local jobKey = P .. 'j:' .. id
  local ord = fenceOrd(jobKey, token, now)
  if ord then
    done[#done + 1] = id
    if remove then
      keys[#keys + 1] = jobKey
      keys[#keys + 1] = P .. 't:' .. id
    else
      -- No `completed` entry is stored: the reader derives it from finishedAt (includes/common.lua).
      redis.call('HSET', jobKey, 'finishedAt', nowStr, 'status', 'completed', 'result', result, 'token', '',
        'lockExpiresAt', '')
      completedSet[#completedSet + 1] = ord
      completedSet[#completedSet + 1] = id
      finishedSet[#finishedSet + 1] = finishedScore(now, #done - 1)
      finishedSet[#finishedSet + 1] = id
    end
    want = want + tonumber(ARGV[base + 4])
    flags[i] = 1
  else
    flags[i] = 0
  end
end
if #done > 0 then
  redis.call('ZREM', active, unpack(done))
  if remove then
    -- As prune-2.lua removes a job: its keys, its place in `all`, its id index entry.
    redis.call('DEL', unpack(keys))
    redis.call('ZREM', P .. 'all', unpack(done))
    if idx ~= '' then dropIndex(idx, queue, done) end
  else
    redis.call('ZADD', P .. 's:completed', unpack(completedSet))
    redis.call('ZADD', P .. 'f:completed', unpack(finishedSet))
  end
end
local jobs = claimJobs(KEYS[2], KEYS[3], KEYS[4], active, P, ARGV[2], math.min(want, 1000),
  tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], now)
if #done > 0 then redis.call('SET', mark, table.concat(flags), 'PX', REPLY_MARK_MS) end
return { flags, jobs }
