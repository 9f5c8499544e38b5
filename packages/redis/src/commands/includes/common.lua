--[[
  Helpers shared by the command scripts. src/scripts.ts prepends this file (after a line defining
  TIMELINE_LIMIT from @oqronkit/core) to every script, so one definition serves all commands.

  Every key a helper builds from P (the queue's key prefix, `<prefix>:{<ns>:<queue>}:`) carries the
  queue's hash tag, so it lives in the same cluster slot as the KEYS of the calling script.

  Layout of one queue (all under P):
    meta        hash    paused, disabled, seq (wait order counter), ord (last listing score)
    wait        zset    claimable jobs; score = -priority * 2^32 + order within the priority
    delayed     zset    jobs not yet due; score = runAt (ms, Redis clock)
    active      zset    leased jobs; score = lockExpiresAt (ms, Redis clock)
    all         zset    every job; score = ord (creation order), for listJobs
    s:<status>  zset    jobs per status; score = ord, for listJobs and countJobs
    f:<status>  zset    finished jobs (completed/failed/cancelled); score = finishedAt, for prune
    j:<id>      hash    the job record
    t:<id>      list    the job's timeline, one JSON entry per element, newest last
]]

-- Milliseconds by Redis' clock: lease and delay times never come from a client.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integer-valued number as a decimal string (Lua's tostring keeps only 14 digits).
local function int(n)
  return string.format('%.0f', n)
end

-- Appends a timeline entry and keeps the newest TIMELINE_LIMIT.
local function timeline(tlKey, at, event, workerId, detail)
  local entry = { at = at, event = event }
  if workerId and workerId ~= '' then entry.workerId = workerId end
  if detail and detail ~= '' then entry.detail = detail end
  redis.call('RPUSH', tlKey, cjson.encode(entry))
  redis.call('LTRIM', tlKey, -TIMELINE_LIMIT, -1)
end

-- Moves a job from one per-status index to another and writes its status field.
local function setStatus(P, id, jobKey, from, to, ord)
  if from and from ~= to then redis.call('ZREM', P .. 's:' .. from, id) end
  redis.call('ZADD', P .. 's:' .. to, ord, id)
  redis.call('HSET', jobKey, 'status', to)
end

-- Puts a job into the wait set: behind the jobs of its priority (FIFO) or ahead of them (LIFO).
-- A waiting worker saw the set empty, so the first push after that finds it empty: publishing only
-- on that 0 -> 1 step wakes every waiter without a message per job.
local function pushWait(meta, wait, id, priority, lifo, channel)
  local seq = redis.call('HINCRBY', meta, 'seq', 1) % 2147483648
  local offset
  if lifo == '1' then offset = 2147483647 - seq else offset = 2147483648 + seq end
  redis.call('ZADD', wait, int(-tonumber(priority) * 4294967296 + offset), id)
  if channel and channel ~= '' and redis.call('ZCARD', wait) == 1 then
    redis.call('PUBLISH', channel, 'w')
  end
end

-- Puts a job into the delayed set; a new earliest due time wakes waiters so they re-arm their timers.
local function pushDelayed(delayed, id, runAt, channel)
  redis.call('ZADD', delayed, runAt, id)
  if channel and channel ~= '' and redis.call('ZRANGE', delayed, 0, 0)[1] == id then
    redis.call('PUBLISH', channel, 'd')
  end
end

-- The next listing score of the queue: creation time * 1024, strictly increasing within the queue so
-- pages stay stable, and comparable across queues.
local function nextOrd(meta, now)
  local ord = now * 1024
  local last = tonumber(redis.call('HGET', meta, 'ord'))
  if last and ord <= last then ord = last + 1 end
  redis.call('HSET', meta, 'ord', int(ord))
  return ord
end

-- A job as the client parses it: { HGETALL fields, timeline entries }.
local function readJob(jobKey, tlKey)
  return { redis.call('HGETALL', jobKey), redis.call('LRANGE', tlKey, 0, -1) }
end

-- Drops the lease: no token, no worker, no expiry, out of the active set.
local function clearLease(jobKey, active, id)
  redis.call('HDEL', jobKey, 'token', 'workerId', 'lockExpiresAt')
  redis.call('ZREM', active, id)
end

-- The fence every token-taking write passes: `token` is the live lease token of an active job whose
-- lease has not expired by Redis' clock. Returns the job's workerId when it passes, nil otherwise.
local function fence(jobKey, token, now)
  local f = redis.call('HMGET', jobKey, 'status', 'token', 'lockExpiresAt', 'workerId')
  if f[1] ~= 'active' or f[2] ~= token then return nil end
  local expiresAt = tonumber(f[3])
  if not expiresAt or expiresAt <= now then return nil end
  return f[4] or ''
end

-- Marks a job finished with `status` (completed, failed, cancelled) at `now`.
local function finish(P, id, jobKey, from, status, ord, now)
  redis.call('HSET', jobKey, 'finishedAt', now)
  setStatus(P, id, jobKey, from, status, ord)
  redis.call('ZADD', P .. 'f:' .. status, now, id)
end
