--[[
  index-del: drop an id -> queue index entry if it still names that queue (Redis Cluster path).

  KEYS[1] index key of the id

  ARGV[1] queue

  Returns 1 when deleted, else 0 (the id was re-added to another queue meanwhile, or is gone). The entry
  is the queue's name, bare or followed by a newline and the time it was written (see index-set).
]]
local current = redis.call('GET', KEYS[1])
if current and (current == ARGV[1] or string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. '\n') then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
