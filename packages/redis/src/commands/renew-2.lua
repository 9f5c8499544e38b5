--[[
  renew: extend a job's lease (heartbeat). Fenced by the lease token.

  KEYS[1] job hash (j:<id>)     KEYS[2] active set

  ARGV[1] id     ARGV[2] token     ARGV[3] leaseMs

  Returns 'ok' (lockExpiresAt = Redis now + leaseMs), 'cancelled' (the job was cancelled while this
  token held it: the handler must stop), or 'lost' (the token is stale or the lease already expired
  by Redis' clock; nothing changed).
]]
local jobKey, active = KEYS[1], KEYS[2]
local id, token = ARGV[1], ARGV[2]
local now = nowMs()
if not fence(jobKey, token, now) then
  local f = redis.call('HMGET', jobKey, 'status', 'cancelToken')
  if f[1] == 'cancelled' and f[2] == token then return 'cancelled' end
  return 'lost'
end
local expiresAt = now + tonumber(ARGV[3])
redis.call('HSET', jobKey, 'lockExpiresAt', expiresAt)
redis.call('ZADD', active, expiresAt, id)
return 'ok'
