--[[
  log: append a handler-written timeline entry. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline

  ARGV[1] token     ARGV[2] event     ARGV[3] workerId ('' = none)     ARGV[4] detail
  ARGV[5] P         ARGV[6] call  this call's random id: a call that wrote its entry leaves a marker
                    `c:<call>` (replyMark in includes/common.lua), so the same call sent again (ioredis re-sends
                    a command whose reply was lost when it reconnects) answers 1 without a second entry

  The entry's time is Redis' now, whatever the caller's clock says. Returns 1, or 0 when the token is
  stale (nothing changed).
]]
local jobKey, tlKey = KEYS[1], KEYS[2]
local mark = replyMark(ARGV[5], ARGV[6])
if redis.call('EXISTS', mark) == 1 then return 1 end
local now = nowMs()
if not fence(jobKey, ARGV[1], now) then return 0 end
flushActive(jobKey, tlKey)
timeline(tlKey, now, ARGV[2], ARGV[3], ARGV[4])
redis.call('SET', mark, '1', 'PX', REPLY_MARK_MS)
return 1
