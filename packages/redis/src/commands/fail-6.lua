--[[
  fail: settle a failed attempt, for good or with a retry. Fenced by the lease token.

  KEYS[1] job hash   KEYS[2] timeline   KEYS[3] active   KEYS[4] wait   KEYS[5] delayed   KEYS[6] meta

  ARGV[1] P     ARGV[2] id     ARGV[3] token     ARGV[4] error (JSON)     ARGV[5] error message
  ARGV[6] retryDelayMs ('' = fail for good)     ARGV[7] wake-up channel

  Stores the error and clears the lease. Without a retry: `failed`, finishedAt, a `failed` entry.
  With one: runAt = now + delay, a `retrying` entry, then `waiting` (delay 0) or `delayed`.
  Returns 1, or 0 when the token is stale (nothing changed).
]]
local jobKey, tlKey, active, wait, delayed, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local workerId = fence(jobKey, ARGV[3], now)
if not workerId then return 0 end
local f = redis.call('HMGET', jobKey, 'ord', 'priority', 'lifo')
redis.call('HSET', jobKey, 'error', ARGV[4])
clearLease(jobKey, active, id)
if ARGV[6] == '' then
  finish(P, id, jobKey, 'active', 'failed', f[1], now)
  timeline(tlKey, now, 'failed', workerId, ARGV[5])
  return 1
end
local delay = tonumber(ARGV[6])
local runAt = now + delay
redis.call('HSET', jobKey, 'runAt', runAt)
timeline(tlKey, now, 'retrying', workerId, ARGV[5])
if delay > 0 then
  setStatus(P, id, jobKey, 'active', 'delayed', f[1])
  pushDelayed(delayed, id, runAt, ARGV[7])
else
  setStatus(P, id, jobKey, 'active', 'waiting', f[1])
  pushWait(meta, wait, id, f[2], f[3], ARGV[7])
end
return 1
