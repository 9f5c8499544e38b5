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
-- The fields a claim reads (see the loop): the rest of the record it knows or writes itself.
local CLAIM_READ = { 'status', 'data', 'result', 'error', 'attempts', 'maxAttempts', 'stalledCount', 'progress',
  'progressLabel', 'priority', 'lifo', 'guaranteed', 'createdAt', 'runAt' }

-- Attempt numbers as strings without formatting a number (see the loop).
local SMALL_INTS = { '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15', '16' }

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
  local queue = string.sub(tokenTail, 2)
  -- Numbers become strings once per call: Redis converts each number argument (and cjson each number it
  -- encodes) with printf-style formatting, which cost several percent of Redis' time per job.
  local expiresAt = int(now + leaseMs)
  local startedAt = int(now)
  local jobs = {}
  -- The set writes of the whole batch go out as one ZREM/ZADD each, after the loop.
  local leases, previous = {}, {}
  for i = 1, #popped, 2 do
    local id = popped[i]
    local jobKey = P .. 'j:' .. id
    -- One read of what the claim does not set or know (id and queue are known, finishedAt is unset on
    -- every claimable job); the reply is the whole record: this read plus the fields the claim writes.
    local r = redis.call('HMGET', jobKey, unpack(CLAIM_READ))
    local status = r[1]
    if status then
      local attempt = tonumber(r[5]) + 1
      attempt = SMALL_INTS[attempt] or int(attempt)
      local token = tokenHead .. #jobs .. tokenTail
      local g = guaranteed ~= '' and guaranteed or r[12]
      redis.call('HSET', jobKey, 'status', 'active', 'token', token, 'workerId', workerId,
        'lockExpiresAt', expiresAt, 'startedAt', startedAt, 'attempts', attempt, 'guaranteed', g, 'pa', '1')
      local v = {}
      v[JF.id], v[JF.queue], v[JF.status], v[JF.data], v[JF.result], v[JF.error] = id, queue, 'active', r[2], r[3], r[4]
      v[JF.attempts], v[JF.maxAttempts], v[JF.stalledCount], v[JF.progress] = attempt, r[6], r[7], r[8]
      v[JF.progressLabel], v[JF.priority], v[JF.lifo], v[JF.guaranteed] = r[9], r[10], r[11], g
      v[JF.workerId], v[JF.token], v[JF.lockExpiresAt], v[JF.createdAt] = workerId, token, expiresAt, r[13]
      v[JF.startedAt], v[JF.finishedAt], v[JF.runAt], v[JF.pa] = startedAt, false, r[14], '1'
      appendTo(previous, status, id)
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

-- The jobs a call with `tokenHead` claimed that are still active under its tokens, as that call returned
-- them (whole records, one JSON string each, in claim order: the token's number is the position). They are
-- found among the queue's active jobs, a set bounded by the consumers' slots; this runs only on a re-send
-- (see replyMark in includes/common.lua).
local function replayClaim(P, active, tokenHead, tokenTail)
  local found = {}
  local head, tail = #tokenHead, #tokenTail
  for _, id in ipairs(redis.call('ZRANGE', active, 0, -1)) do
    local f = redis.call('HMGET', P .. 'j:' .. id, unpack(JOB_FIELDS))
    local token = f[JF.token]
    if f[JF.status] == 'active' and token and string.sub(token, 1, head) == tokenHead then
      found[#found + 1] = { tonumber(string.sub(token, head + 1, #token - tail)), cjson.encode(f) }
    end
  end
  table.sort(found, function(a, b) return a[1] < b[1] end)
  local jobs = {}
  for i, pair in ipairs(found) do jobs[i] = pair[2] end
  return jobs
end

