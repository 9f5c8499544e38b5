--[[
  lock-acquire: take a TTL lock if it is free or expired.

  KEYS[1] lock key

  ARGV[1] token (new, unique)     ARGV[2] owner     ARGV[3] ttlMs

  The key's own expiry (PEXPIRE) is the lease: Redis judges it by its clock, and an expired lock is
  simply absent. Returns 1 when taken, 0 when another token holds it. A lock already held by ARGV[1] was
  taken by this very call, sent again (ioredis re-sends a command whose reply was lost when it reconnects;
  the token is new for every call): 1 again, so the caller learns the token it holds.
]]
local held = redis.call('HGET', KEYS[1], 'token')
if held then
  if held == ARGV[1] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
