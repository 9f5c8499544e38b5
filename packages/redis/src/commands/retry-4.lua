--[[
  retry: move a `failed` or `cancelled` job back to `waiting` (manual retry).

  KEYS[1] job hash     KEYS[2] timeline     KEYS[3] wait     KEYS[4] meta

  ARGV[1] P     ARGV[2] id     ARGV[3] wake-up channel

  Resets attempts and stalledCount, clears error and finish time, runAt = now, and
  appends `retried`. Returns {} when there is no such job, else { retried (1|0), { values, timeline } };
  0 means the job was neither failed nor cancelled and nothing changed.
]]
local jobKey, tlKey, wait, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, id = ARGV[1], ARGV[2]
local f = redis.call('HMGET', jobKey, 'status', 'ord', 'priority', 'lifo')
if not f[1] then return {} end
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then return { 0, readJob(jobKey, tlKey) } end
local now = nowMs()
redis.call('ZREM', P .. 'f:' .. f[1], id)
redis.call('HSET', jobKey, 'attempts', 0, 'stalledCount', 0, 'runAt', now)
redis.call('HDEL', jobKey, 'error', 'finishedAt', 'cancelToken')
setStatus(P, id, jobKey, f[1], 'waiting', f[2])
pushWait(meta, wait, id, f[3], f[4], ARGV[3])
timeline(tlKey, now, 'retried')
return { 1, readJob(jobKey, tlKey) }
