--[[
  index-del: drop an id -> queue index entry if it still names that queue (Redis Cluster path).

  KEYS[1] index key of the id

  ARGV[1] queue

  Returns 1 when deleted, else 0 (the id was re-added to another queue meanwhile, or is gone).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
