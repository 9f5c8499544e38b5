--[[
  progress: record a running job's progress. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline

  ARGV[1] token     ARGV[2] progress (0..100)     ARGV[3] has label (1|0)     ARGV[4] label

  Returns 1, or 0 when the token is stale (nothing changed).
]]
local jobKey, tlKey = KEYS[1], KEYS[2]
local now = nowMs()
local workerId = fence(jobKey, ARGV[1], now)
if not workerId then return 0 end
redis.call('HSET', jobKey, 'progress', ARGV[2])
local detail = ARGV[2]
if ARGV[3] == '1' then
  redis.call('HSET', jobKey, 'progressLabel', ARGV[4])
  detail = ARGV[2] .. ' ' .. ARGV[4]
else
  redis.call('HDEL', jobKey, 'progressLabel')
end
timeline(tlKey, now, 'progress', workerId, detail)
return 1
