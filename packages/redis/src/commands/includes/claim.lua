--[[
  The claim step, shared by claim-4.lua and complete-and-claim-6.lua. src/scripts.ts prepends this file
  (after common.lua) only to the scripts that list it, so both commands run the very same code.

  claimJobs(meta, wait, delayed, active, P, workerId, limit, leaseMs, tokenHead, tokenTail, guaranteed, now)

  First promotes delayed jobs whose runAt has come (bounded per call), then pops the wait set in
  priority order (FIFO, or LIFO for lifo jobs, within a priority). Each claimed job gets: status
  `active`, a new token (tokenHead .. <n> .. tokenTail), workerId, lockExpiresAt = now + leaseMs,
  attempts + 1, startedAt, an `active` timeline entry, and a place in the active set scored by its
  lease expiry. `guaranteed` (1|0) is stored on each claimed job; '' keeps the job's own flag.

  Returns { { values, timeline }, ... }; {} while the queue is paused or disabled, or when limit < 1.
  `limit` must stay <= 1000 (the client caps it): batch writes unpack 2 values per job onto Lua's stack.
]]
local function claimJobs(meta, wait, delayed, active, P, workerId, limit, leaseMs, tokenHead, tokenTail,
    guaranteed, now)
  local flags = redis.call('HMGET', meta, 'paused', 'disabled')
  if flags[1] == '1' or flags[2] == '1' or limit < 1 then return {} end

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
end
