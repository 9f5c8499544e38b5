--[[
  release: give a job back at once (graceful shutdown). Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline     KEYS[3] active     KEYS[4] wait     KEYS[5] meta

  ARGV[1] P     ARGV[2] id     ARGV[3] token     ARGV[4] wake-up channel

  `waiting` at the front of its priority with the lease cleared, attempts - 1 (the interrupted attempt does not count), a `released`
  entry, and a wake-up so another worker takes it now rather than after the lease would have expired.
  Returns 1, or 0 when the token is stale (nothing changed).
]]
local jobKey, tlKey, active, wait, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local lease = fence(jobKey, ARGV[3], now)
if not lease then return 0 end
flushActive(jobKey, tlKey)
clearLease(jobKey, active, id)
if tonumber(lease[4]) > 0 then redis.call('HINCRBY', jobKey, 'attempts', -1) end
setStatus(P, id, jobKey, 'active', 'waiting', lease[2])
pushWait(meta, wait, id, lease[3], '1', ARGV[4])
timeline(tlKey, now, 'released', lease[1])
return 1
