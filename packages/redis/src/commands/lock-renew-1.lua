--[[
  lock-renew: extend a lock to Redis' now + ttlMs. Fenced by the lock token.

  KEYS[1] lock key

  ARGV[1] token     ARGV[2] ttlMs

  Returns 1, or 0 when the token no longer holds the lock (expired or taken by another).
]]
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
