--[[
  progress: record a running job's progress. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline

  ARGV[1] token     ARGV[2] progress (0..100)     ARGV[3] has label (1|0)     ARGV[4] label
  ARGV[5] P         ARGV[6] call  this call's random id: a re-send of a call that recorded its progress
                    answers 1 without a second `progress` entry (see log-2.lua)

  Returns 1, or 0 when the token is stale (nothing changed).
]]
local jobKey, tlKey = KEYS[1], KEYS[2]
local mark = replyMark(ARGV[5], ARGV[6])
if redis.call('EXISTS', mark) == 1 then return 1 end
local now = nowMs()
local lease = fence(jobKey, ARGV[1], now)
if not lease then return 0 end
flushActive(jobKey, tlKey)
redis.call('HSET', jobKey, 'progress', ARGV[2])
local detail = ARGV[2] .. '%'
if ARGV[3] == '1' then
  redis.call('HSET', jobKey, 'progressLabel', ARGV[4])
  if ARGV[4] ~= '' then detail = detail .. ' ' .. ARGV[4] end
else
  redis.call('HDEL', jobKey, 'progressLabel')
end
timeline(tlKey, now, 'progress', lease[1], detail)
redis.call('SET', mark, '1', 'PX', REPLY_MARK_MS)
return 1
