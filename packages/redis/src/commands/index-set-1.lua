--[[
  index-set: claim a job id in the namespace's id -> queue index (used where the index cannot be
  written by the add script itself, i.e. on Redis Cluster, where it lives in another slot).

  KEYS[1] index key of the id

  ARGV[1] queue     ARGV[2] expected ('' = none): a stale queue name to replace

  Returns '' when the index now names ARGV[1] because of this call, else the queue it names (ARGV[1]
  itself when it already did).
]]
local current = redis.call('GET', KEYS[1])
if not current or (ARGV[2] ~= '' and current == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return ''
end
return current
