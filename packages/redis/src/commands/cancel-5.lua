--[[
  cancel: write a `cancelled` tombstone for a job that is not finished, and tell every node.

  KEYS[1] job hash     KEYS[2] timeline     KEYS[3] wait     KEYS[4] delayed     KEYS[5] active

  ARGV[1] P     ARGV[2] id     ARGV[3] cancel channel of the namespace
  ARGV[4] call  this call's random id: a call that cancels leaves a marker `c:<call>` (replyMark in
                includes/common.lua), so the same call sent again (ioredis re-sends a command whose reply was
                lost when it reconnects) answers that it cancelled instead of "already finished"

  The record stays (timeline, error, finishedAt); the job leaves every delivery set and its lease is
  cleared, so it never runs again. The live token is kept as cancelToken so the running worker's next
  renew answers `cancelled`, not `lost`. The publish reaches nodes running the job at once.

  Returns {} when there is no such job, else { cancelled (1|0), { values, timeline } }; 0 means the job
  was already finished and nothing changed.
]]
local jobKey, tlKey, wait, delayed, active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local P, id = ARGV[1], ARGV[2]
local f = redis.call('HMGET', jobKey, 'status', 'ord', 'token', 'workerId')
if not f[1] then return {} end
-- A re-send of a call that cancelled: its answer stands, and nothing is done again (the job may have been
-- retried since).
local mark = replyMark(P, ARGV[4])
if redis.call('EXISTS', mark) == 1 then return { 1, readJob(jobKey, tlKey) } end
if f[1] == 'completed' or f[1] == 'failed' or f[1] == 'cancelled' then
  return { 0, readJob(jobKey, tlKey) }
end
local now = nowMs()
flushActive(jobKey, tlKey)
redis.call('ZREM', wait, id)
redis.call('ZREM', delayed, id)
if f[3] then redis.call('HSET', jobKey, 'cancelToken', f[3]) end
clearLease(jobKey, active, id, true)
finish(P, id, jobKey, f[1], 'cancelled', f[2], now)
timeline(tlKey, now, 'cancelled', f[4] or '')
redis.call('SET', mark, '1', 'PX', REPLY_MARK_MS)
redis.call('PUBLISH', ARGV[3], id)
return { 1, readJob(jobKey, tlKey) }
