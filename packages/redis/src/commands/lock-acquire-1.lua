--[[
  lock-acquire: take a TTL lock if it is free or expired.

  KEYS[1] lock key

  ARGV[1] token (new, unique)     ARGV[2] owner     ARGV[3] ttlMs

  The key's own expiry (PEXPIRE) is the lease: Redis judges it by its clock, and an expired lock is
  simply absent. Returns 1 when taken, 0 when another token holds it.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
