--[[
  remove: delete a job that is not active.

  KEYS[1] job hash     KEYS[2] timeline     KEYS[3] wait     KEYS[4] delayed     KEYS[5] all

  ARGV[1] P     ARGV[2] id     ARGV[3] idx (id index key prefix, or '' when the client maintains it)
  ARGV[4] call  this call's random id: a call that deletes leaves a marker `c:<call>` (replyMark in
                includes/common.lua), so the same call sent again (ioredis re-sends a command whose reply was
                lost when it reconnects) answers that it deleted instead of "missing"

  Returns 1 when deleted; 0 when missing or active (a job a worker holds is never deleted).
]]
local jobKey, tlKey, wait, delayed, all = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local P, id, idx = ARGV[1], ARGV[2], ARGV[3]
-- A re-send of a call that deleted: its answer stands, and a job added with the id since is left alone.
local mark = replyMark(P, ARGV[4])
if redis.call('EXISTS', mark) == 1 then return 1 end
local f = redis.call('HMGET', jobKey, 'status', 'queue')
if not f[1] or f[1] == 'active' then return 0 end
redis.call('ZREM', wait, id)
redis.call('ZREM', delayed, id)
redis.call('ZREM', all, id)
if INDEXED[f[1]] then redis.call('ZREM', P .. 's:' .. f[1], id) end
redis.call('ZREM', P .. 'f:' .. f[1], id)
redis.call('DEL', jobKey, tlKey)
if idx ~= '' and redis.call('GET', idx .. id) == f[2] then redis.call('DEL', idx .. id) end
redis.call('SET', mark, '1', 'PX', REPLY_MARK_MS)
return 1
