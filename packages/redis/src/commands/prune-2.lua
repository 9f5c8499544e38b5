--[[
  prune: retention. Delete the oldest finished jobs of one status past the count/age limits.

  KEYS[1] f:<status> (finished jobs scored by finishedAt)     KEYS[2] all

  ARGV[1] P     ARGV[2] status     ARGV[3] keep ('' = any number)     ARGV[4] maxAgeMs ('' = any age)
  ARGV[5] limit (<= 1000)     ARGV[6] idx (id index key prefix, or '' when the client maintains it)
  ARGV[7] queue name (what the id index of a job of this queue holds)

  A job is removed if it is beyond the newest `keep` or finished more than maxAgeMs ago (Redis' clock),
  oldest first, at most `limit` per call. Returns the removed ids.
]]
local finished, all = KEYS[1], KEYS[2]
local P, status, idx, queue = ARGV[1], ARGV[2], ARGV[6], ARGV[7]
local limit = tonumber(ARGV[5])
local n = 0
if ARGV[3] ~= '' then n = math.max(0, redis.call('ZCARD', finished) - tonumber(ARGV[3])) end
if ARGV[4] ~= '' then
  local cutoff = nowMs() - tonumber(ARGV[4])
  n = math.max(n, redis.call('ZCOUNT', finished, '-inf', '(' .. int(cutoff)))
end
n = math.min(n, limit)
if n < 1 then return {} end
local ids = redis.call('ZRANGE', finished, 0, n - 1)
-- f:<status> holds only jobs finished with that status, so the index writes go out once for the batch.
redis.call('ZREM', finished, unpack(ids))
redis.call('ZREM', all, unpack(ids))
redis.call('ZREM', P .. 's:' .. status, unpack(ids))
-- The keys of the batch go in one DEL, and the id index in one MGET and one DEL (limit <= 1000 keeps the
-- unpacked arguments within Lua's stack; see dropIndex).
local keys = {}
for i, id in ipairs(ids) do
  keys[2 * i - 1] = P .. 'j:' .. id
  keys[2 * i] = P .. 't:' .. id
end
redis.call('DEL', unpack(keys))
if idx ~= '' then dropIndex(idx, queue, ids) end
return ids
