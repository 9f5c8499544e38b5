--[[
  prune: retention. Delete the oldest finished jobs of one status past the count/age limits.

  KEYS[1] f:<status> (finished jobs scored by finishedAt)     KEYS[2] all

  ARGV[1] P     ARGV[2] status     ARGV[3] keep ('' = any number)     ARGV[4] maxAgeMs ('' = any age)
  ARGV[5] limit     ARGV[6] idx (id index key prefix, or '' when the client maintains it)

  A job is removed if it is beyond the newest `keep` or finished more than maxAgeMs ago (Redis' clock),
  oldest first, at most `limit` per call. Returns the removed ids.
]]
local finished, all = KEYS[1], KEYS[2]
local P, status, idx = ARGV[1], ARGV[2], ARGV[6]
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
for _, id in ipairs(ids) do
  local jobKey = P .. 'j:' .. id
  local queue = redis.call('HGET', jobKey, 'queue')
  redis.call('ZREM', finished, id)
  redis.call('ZREM', all, id)
  redis.call('ZREM', P .. 's:' .. status, id)
  redis.call('DEL', jobKey, P .. 't:' .. id)
  if idx ~= '' and queue and redis.call('GET', idx .. id) == queue then redis.call('DEL', idx .. id) end
end
return ids
