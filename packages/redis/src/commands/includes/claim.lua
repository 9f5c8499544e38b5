--[[
  The claim step, shared by claim-4.lua and complete-and-claim-4.lua. src/scripts.ts prepends this file
  (after common.lua) only to the scripts that list it, so both commands run the very same code.

  claimJobs(meta, wait, delayed, active, P, workerId, limit, leaseMs, tokenHead, tokenTail, guaranteed, now)

  First promotes delayed jobs whose runAt has come (bounded per call), then pops the wait set in
  priority order (FIFO, or LIFO for lifo jobs, within a priority). Each claimed job gets: status
  `active`, a new token (tokenHead .. <n> .. tokenTail), workerId, lockExpiresAt = now + leaseMs,
  attempts + 1, startedAt, a pending `active` timeline entry (`pa` = 1, see common.lua), and a place in the active set scored by its
  lease expiry. `guaranteed` (1|0) is stored on each claimed job; '' keeps the job's own flag.

  Returns { json, ... }: per claimed job, its values (JOB_FIELDS order, false for a missing field) as one
  JSON array string (no timeline: the engine never reads a claimed job's); {} while the queue is paused or
  disabled, or when limit < 1.
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
  local leases, previous = {}, {}
  for i = 1, #popped, 2 do
    local id = popped[i]
    local jobKey = P .. 'j:' .. id
    -- One read of the whole record: the reply is this read with the fields the claim writes patched in.
    local v = redis.call('HMGET', jobKey, unpack(JOB_FIELDS))
    local status = v[JF.status]
    if status then
      local attempt = tonumber(v[JF.attempts]) + 1
      local token = tokenHead .. #jobs .. tokenTail
      if guaranteed ~= '' then v[JF.guaranteed] = guaranteed end
      redis.call('HSET', jobKey, 'status', 'active', 'token', token, 'workerId', workerId,
        'lockExpiresAt', expiresAt, 'startedAt', now, 'attempts', attempt, 'guaranteed', v[JF.guaranteed],
        'pa', 1)
      v[JF.status], v[JF.token], v[JF.workerId], v[JF.lockExpiresAt] = 'active', token, workerId, expiresAt
      v[JF.startedAt], v[JF.attempts], v[JF.pa] = now, attempt, '1'
      local from = previous[status]
      if not from then
        from = {}
        previous[status] = from
      end
      from[#from + 1] = id
      leases[#leases + 1] = expiresAt
      leases[#leases + 1] = id
      -- One JSON string per job: a nested reply of 22 bulk strings per job costs Redis and the client
      -- several times more to write and parse than one string (measured: ~16 µs per job).
      jobs[#jobs + 1] = cjson.encode(v)
    end
  end
  if #jobs > 0 then
    for status, ids in pairs(previous) do
      if INDEXED[status] then redis.call('ZREM', P .. 's:' .. status, unpack(ids)) end
    end
    redis.call('ZADD', active, unpack(leases))
  end
  return jobs
end
