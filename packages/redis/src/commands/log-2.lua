--[[
  log: append a handler-written timeline entry. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline

  ARGV[1] token     ARGV[2] event     ARGV[3] workerId ('' = none)     ARGV[4] detail

  The entry's time is Redis' now, whatever the caller's clock says. Returns 1, or 0 when the token is
  stale (nothing changed).
]]
local jobKey, tlKey = KEYS[1], KEYS[2]
local now = nowMs()
if not fence(jobKey, ARGV[1], now) then return 0 end
flushActive(jobKey, tlKey)
timeline(tlKey, now, ARGV[2], ARGV[3], ARGV[4])
return 1
