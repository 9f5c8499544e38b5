--[[
  set-disabled: set or clear a queue's disabled flag, which add and claim read.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] delayed     KEYS[4] s:paused (held jobs)

  ARGV[1] P     ARGV[2] disabled (1|0)     ARGV[3] wake-up channel

  Enabling moves every held (`paused`) job back to `waiting`, or `delayed` if its runAt is still ahead,
  with a `resumed` entry, in this one step, then wakes waiting workers. Returns how many jobs moved.
]]
local meta, wait, delayed, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P = ARGV[1]
if ARGV[2] == '1' then
  redis.call('HSET', meta, 'disabled', '1')
  return 0
end
redis.call('HDEL', meta, 'disabled')
local now = nowMs()
local ids = redis.call('ZRANGE', held, 0, -1)
for _, id in ipairs(ids) do
  local jobKey = P .. 'j:' .. id
  local f = redis.call('HMGET', jobKey, 'runAt', 'ord', 'priority', 'lifo')
  local runAt = tonumber(f[1])
  if runAt and runAt > now then
    setStatus(P, id, jobKey, 'paused', 'delayed', f[2])
    pushDelayed(delayed, id, runAt, nil)
  else
    setStatus(P, id, jobKey, 'paused', 'waiting', f[2])
    pushWait(meta, wait, id, f[3], f[4], nil)
  end
  timeline(P .. 't:' .. id, now, 'resumed')
end
redis.call('PUBLISH', ARGV[3], 'e')
return #ids
