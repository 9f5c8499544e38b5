--[[
  complete: settle a job as completed. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline     KEYS[3] active set

  ARGV[1] P     ARGV[2] id     ARGV[3] token     ARGV[4] result (JSON)

  Stores the result, clears the lease, sets finishedAt, appends `completed`. Returns 1, or 0 when the
  token is stale: a zombie never overwrites the re-run's result.
]]
local jobKey, tlKey, active = KEYS[1], KEYS[2], KEYS[3]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local workerId = fence(jobKey, ARGV[3], now)
if not workerId then return 0 end
redis.call('HSET', jobKey, 'result', ARGV[4])
clearLease(jobKey, active, id)
finish(P, id, jobKey, 'active', 'completed', redis.call('HGET', jobKey, 'ord'), now)
timeline(tlKey, now, 'completed', workerId)
return 1
