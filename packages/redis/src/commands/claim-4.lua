--[[
  claim: lease up to `limit` due jobs of one queue to one worker, in one atomic step.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] delayed     KEYS[4] active

  ARGV[1] P            key prefix of the queue
  ARGV[2] workerId
  ARGV[3] limit        at most this many jobs
  ARGV[4] leaseMs      lease length from Redis' now
  ARGV[5] tokenHead    random, unique per call; token = tokenHead .. <n> .. tokenTail
  ARGV[6] tokenTail    `:<queue>`, so fenced writes find the queue from the token alone
  ARGV[7] guaranteed   the consumer's guaranteedWorker (1|0), stored on each claimed job so the stall
                       scan treats the run as the consumer runs it; '' keeps the job's own flag

  First promotes delayed jobs whose runAt has come (bounded per call), then pops the wait set in
  priority order (FIFO, or LIFO for lifo jobs, within a priority). Each claimed job gets: status
  `active`, a new token, workerId, lockExpiresAt = now + leaseMs, attempts + 1, startedAt, an `active`
  timeline entry, and a place in the active set scored by its lease expiry.

  Returns { { values, timeline }, ... } for the claimed jobs; {} while the queue is paused or disabled.
  `limit` must stay <= 1000 (the client caps it): batch writes unpack 2 values per job onto Lua's stack.
]]
local meta, wait, delayed, active = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, workerId = ARGV[1], ARGV[2]
local limit, leaseMs = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokenHead, tokenTail, guaranteed = ARGV[5], ARGV[6], ARGV[7]

local flags = redis.call('HMGET', meta, 'paused', 'disabled')
if flags[1] == '1' or flags[2] == '1' or limit < 1 then return {} end
local now = nowMs()

-- Bounded, so one call never blocks Redis for long; the rest is promoted by the next claim.
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  local jobKey = P .. 'j:' .. id
  local f = redis.call('HMGET', jobKey, 'status', 'ord', 'priority', 'lifo')
  redis.call('ZREM', delayed, id)
  if f[1] then
    setStatus(P, id, jobKey, f[1], 'waiting', f[2])
    pushWait(meta, wait, id, f[3], f[4], nil)
  end
end

local popped = redis.call('ZPOPMIN', wait, limit)
local expiresAt = now + leaseMs
local jobs = {}
-- The set writes of the whole batch go out as one ZREM/ZADD each, after the loop.
local leases, listed, previous = {}, {}, {}
for i = 1, #popped, 2 do
  local id = popped[i]
  local jobKey, tlKey = P .. 'j:' .. id, P .. 't:' .. id
  local f = redis.call('HMGET', jobKey, 'status', 'ord', 'attempts', 'guaranteed')
  if f[1] then
    local attempt = tonumber(f[3]) + 1
    local flag = f[4]
    if guaranteed ~= '' then flag = guaranteed end
    redis.call('HSET', jobKey, 'status', 'active', 'token', tokenHead .. #jobs .. tokenTail,
      'workerId', workerId, 'lockExpiresAt', expiresAt, 'startedAt', now, 'attempts', attempt,
      'guaranteed', flag)
    local from = previous[f[1]]
    if not from then
      from = {}
      previous[f[1]] = from
    end
    from[#from + 1] = id
    leases[#leases + 1] = expiresAt
    leases[#leases + 1] = id
    listed[#listed + 1] = f[2]
    listed[#listed + 1] = id
    timeline(tlKey, now, 'active', workerId, 'attempt ' .. attempt)
    jobs[#jobs + 1] = readJob(jobKey, tlKey)
  end
end
if #jobs > 0 then
  for status, ids in pairs(previous) do redis.call('ZREM', P .. 's:' .. status, unpack(ids)) end
  redis.call('ZADD', active, unpack(leases))
  redis.call('ZADD', P .. 's:active', unpack(listed))
end
return jobs
