--[[
  add: store new jobs of one queue, each atomically and idempotently by id.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] delayed     KEYS[4] all

  ARGV[1] P        key prefix of the queue (`<prefix>:{<ns>:<queue>}:`)
  ARGV[2] channel  wake-up channel of the queue
  ARGV[3] queue    queue name
  ARGV[4] idx      prefix of the namespace's id -> queue index keys, or '' when the client maintains the
                   index itself (Redis Cluster: the index lives in another slot)
  ARGV[5] n        number of jobs (<= 1000, the client's batches are smaller); then 8 values per job:
                   id, data (JSON), delayMs, priority, lifo (1|0), maxAttempts, guaranteed (1|0),
                   disabledBehavior (hold|skip|reject)
  ARGV[6 + n * 8] call     this call's random id. Stored with each job it creates (field `an`, with `c` or
                   `h` for created or held), so that the same call sent again (ioredis re-sends a command
                   whose reply was lost when it reconnects) answers what it did the first time instead of
                   `duplicate`.

  Returns one entry per job, in order:
    { 'created' | 'held', createdAt, ord }   stored (held = stored `paused`, the queue is disabled)
    { 'duplicate', { values, timeline } }    a job with this id exists in this queue; nothing changed
    { 'skipped' } | { 'rejected' }           the queue is disabled; nothing stored
    { 'other', queue }                       the id index names another queue; nothing changed, the
                                             client resolves it (only when ARGV[4] ~= '')
]]
local meta, wait, delayed, all = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, channel, queue, idx = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local call = ARGV[6 + n * 8]
local now = nowMs()
local disabled = redis.call('HGET', meta, 'disabled') == '1'
local results = {}

-- Ids in one call are distinct (the client splits repeats into later calls), so the set writes of the
-- batch can go out together after the loop, one ZADD per set.
local listed, byStatus, waiting, delayedJobs = {}, {}, {}, {}
local ordBase, seqBase
local stored = 0

for i = 0, n - 1 do
  local b = 5 + i * 8
  local id = ARGV[b + 1]
  local jobKey, tlKey = P .. 'j:' .. id, P .. 't:' .. id
  local result
  -- A new id takes its index entry in the same call that finds it free. An index entry exists for every
  -- stored job (this script writes both; remove and prune delete both), so a free entry means no job.
  local fresh = idx ~= '' and redis.call('SET', idx .. id, queue, 'NX') ~= false
  local indexed = idx ~= '' and not fresh and redis.call('GET', idx .. id)
  if indexed and indexed ~= queue then
    result = { 'other', indexed }
  elseif not fresh and redis.call('EXISTS', jobKey) == 1 then
    local first = redis.call('HMGET', jobKey, 'an', 'createdAt', 'ord')
    if first[1] == call .. ':c' or first[1] == call .. ':h' then
      -- This very call, sent again: the job is the one its first run stored.
      result = { first[1] == call .. ':c' and 'created' or 'held', tonumber(first[2]), tonumber(first[3]) }
    else
      result = { 'duplicate', readJob(jobKey, tlKey) }
    end
  elseif disabled and (ARGV[b + 8] == 'skip' or ARGV[b + 8] == 'reject') then
    if fresh then redis.call('DEL', idx .. id) end
    result = { ARGV[b + 8] == 'skip' and 'skipped' or 'rejected' }
  else
    if not ordBase then
      -- Listing order: creation time * 1024, strictly increasing within the queue, so pages stay stable.
      ordBase = now * 1024
      local last = tonumber(redis.call('HGET', meta, 'ord'))
      if last and ordBase <= last then ordBase = last + 1 end
      seqBase = redis.call('HINCRBY', meta, 'seq', n) - n
    end
    local ord = int(ordBase + stored)
    local seq = (seqBase + stored + 1) % 2147483648
    stored = stored + 1
    local delay = tonumber(ARGV[b + 3])
    local runAt = now + delay
    local status, outcome = 'waiting', 'created'
    if disabled then
      status, outcome = 'paused', 'held'
    elseif delay > 0 then
      status = 'delayed'
    end
    redis.call('HSET', jobKey,
      'id', id, 'queue', queue, 'status', status, 'data', ARGV[b + 2],
      'attempts', 0, 'maxAttempts', ARGV[b + 6], 'stalledCount', 0, 'progress', 0,
      'priority', ARGV[b + 4], 'lifo', ARGV[b + 5], 'guaranteed', ARGV[b + 7],
      'createdAt', now, 'runAt', runAt, 'ord', ord, 'an', call .. (disabled and ':h' or ':c'))
    listed[#listed + 1] = ord
    listed[#listed + 1] = id
    appendTo(byStatus, status, ord, id)
    -- No `added` entry is stored: the reader derives it from createdAt (includes/common.lua).
    if disabled then timeline(tlKey, now, 'held', nil, 'module disabled') end
    if status == 'waiting' then
      -- Same order as pushWait: behind the jobs of its priority, or ahead of them for LIFO.
      local offset
      if ARGV[b + 5] == '1' then offset = 2147483647 - seq else offset = 2147483648 + seq end
      waiting[#waiting + 1] = int(-tonumber(ARGV[b + 4]) * 4294967296 + offset)
      waiting[#waiting + 1] = id
    elseif status == 'delayed' then
      delayedJobs[#delayedJobs + 1] = runAt
      delayedJobs[#delayedJobs + 1] = id
    end
    result = { outcome, now, ord }
  end
  results[i + 1] = result
end

if stored > 0 then
  redis.call('HSET', meta, 'ord', int(ordBase + stored - 1))
  redis.call('ZADD', all, unpack(listed))
  for status, group in pairs(byStatus) do
    if INDEXED[status] then redis.call('ZADD', P .. 's:' .. status, unpack(group)) end
  end
end
-- Wake-ups: workers wait only after finding the wait set empty, so the 0 -> n step is the one to announce;
-- a new earliest delayed job re-arms their timers.
if #waiting > 0 then
  local wasEmpty = redis.call('ZCARD', wait) == 0
  redis.call('ZADD', wait, unpack(waiting))
  if wasEmpty then redis.call('PUBLISH', channel, 'w') end
end
if #delayedJobs > 0 then
  local head = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  redis.call('ZADD', delayed, unpack(delayedJobs))
  local earliest = math.huge
  for j = 1, #delayedJobs, 2 do earliest = math.min(earliest, delayedJobs[j]) end
  if not head[1] or earliest < tonumber(head[2]) then redis.call('PUBLISH', channel, 'd') end
end

return results
