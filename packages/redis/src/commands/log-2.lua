--[[
  log: append a handler-written timeline entry. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline

  ARGV[1] token     ARGV[2] event     ARGV[3] workerId ('' = the lease holder's)     ARGV[4] detail

  The entry's time is Redis' now, whatever the caller's clock says. Returns 1, or 0 when the token is
  stale (nothing changed).
]]
local jobKey, tlKey = KEYS[1], KEYS[2]
local now = nowMs()
local workerId = fence(jobKey, ARGV[1], now)
if not workerId then return 0 end
if ARGV[3] ~= '' then workerId = ARGV[3] end
timeline(tlKey, now, ARGV[2], workerId, ARGV[4])
return 1
