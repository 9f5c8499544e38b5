--[[
  fail: settle a failed attempt, for good or with a retry. Fenced by the lease token.

  KEYS[1] job hash   KEYS[2] timeline   KEYS[3] active   KEYS[4] wait   KEYS[5] delayed   KEYS[6] meta

  ARGV[1] P     ARGV[2] id     ARGV[3] token     ARGV[4] error (JSON)     ARGV[5] error message
  ARGV[6] retryDelayMs ('' = fail for good)     ARGV[7] wake-up channel

  Stores the error and clears the lease. Without a retry: `failed`, finishedAt, a `failed` entry (workerId
  stays, for the audit trail).
  With one: runAt = now + delay, a `retrying` entry, then `waiting` (delay 0) or `delayed`.
  Returns 1, or 0 when the token is stale (nothing changed); 1 again for a re-send of a call that ran (a
  60-second marker `c:<token>`, see replyMark in includes/common.lua).
]]
local jobKey, tlKey, active, wait, delayed, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local lease = fence(jobKey, ARGV[3], now)
-- A re-send of a call that ran (see replyMark in includes/common.lua): the first run left a marker under its
-- token, unique to this attempt, and its answer stands.
local mark = replyMark(P, ARGV[3])
if not lease then return redis.call('EXISTS', mark) end
redis.call('SET', mark, '1', 'PX', REPLY_MARK_MS)
flushActive(jobKey, tlKey)
local workerId, ord = lease[1], lease[2]
if ARGV[6] == '' then
  clearLease(jobKey, active, id, true)
  finish(P, id, jobKey, 'active', 'failed', ord, now, 'error', ARGV[4])
  timeline(tlKey, now, 'failed', workerId, ARGV[5])
  return 1
end
clearLease(jobKey, active, id)
local delay = tonumber(ARGV[6])
local runAt = now + delay
redis.call('HSET', jobKey, 'error', ARGV[4], 'runAt', runAt)
timeline(tlKey, now, 'retrying', workerId, ARGV[5] .. '; next attempt in ' .. ARGV[6] .. ' ms')
if delay > 0 then
  setStatus(P, id, jobKey, 'active', 'delayed', ord)
  pushDelayed(delayed, id, runAt, ARGV[7])
else
  setStatus(P, id, jobKey, 'active', 'waiting', ord)
  pushWait(meta, wait, id, lease[3], lease[5], ARGV[7])
end
return 1
