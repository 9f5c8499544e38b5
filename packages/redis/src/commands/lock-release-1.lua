--[[
  lock-release: free a lock. Fenced by the lock token.

  KEYS[1] lock key

  ARGV[1] token

  Returns 1, or 0 when the token no longer holds the lock (nothing changed).
]]
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
