--[[
  peek: what an idle worker needs before it waits: is there claimable work, and when is the next
  delayed job due? Read-only.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] delayed

  Returns { hasWork (1|0), msUntilNextDue (-1 = no delayed job, or the queue is paused/disabled) }.
]]
local flags = redis.call('HMGET', KEYS[1], 'paused', 'disabled')
if flags[1] == '1' or flags[2] == '1' then return { 0, -1 } end
if redis.call('ZCARD', KEYS[2]) > 0 then return { 1, 0 } end
local head = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if not head[1] then return { 0, -1 } end
local wait = tonumber(head[2]) - nowMs()
if wait <= 0 then return { 1, 0 } end
return { 0, wait }
