--[[
  add: store new jobs of one queue, each atomically and idempotently by id.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] delayed     KEYS[4] all

  ARGV[1] P        key prefix of the queue (`<prefix>:{<ns>:<queue>}:`)
  ARGV[2] channel  wake-up channel of the queue
  ARGV[3] queue    queue name
  ARGV[4] idx      prefix of the namespace's id -> queue index keys, or '' when the client maintains the
                   index itself (Redis Cluster: the index lives in another slot)
  ARGV[5] n        number of jobs; then 8 values per job:
                   id, data (JSON), delayMs, priority, lifo (1|0), maxAttempts, guaranteed (1|0),
                   disabledBehavior (hold|skip|reject)

  Returns one entry per job, in order:
    { 'created' | 'held', createdAt, ord }   stored (held = stored `paused`, the queue is disabled)
    { 'duplicate', { fields, timeline } }    a job with this id exists in this queue; nothing changed
    { 'skipped' } | { 'rejected' }           the queue is disabled; nothing stored
    { 'other', queue }                       the id index names another queue; nothing changed, the
                                             client resolves it (only when ARGV[4] ~= '')
]]
local meta, wait, delayed, all = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, channel, queue, idx = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local now = nowMs()
local disabled = redis.call('HGET', meta, 'disabled') == '1'
local results = {}

for i = 0, n - 1 do
  local b = 5 + i * 8
  local id = ARGV[b + 1]
  local jobKey, tlKey = P .. 'j:' .. id, P .. 't:' .. id
  local result
  local indexed = idx ~= '' and redis.call('GET', idx .. id)
  if indexed and indexed ~= queue then
    result = { 'other', indexed }
  elseif redis.call('EXISTS', jobKey) == 1 then
    result = { 'duplicate', readJob(jobKey, tlKey) }
  elseif disabled and ARGV[b + 8] == 'skip' then
    result = { 'skipped' }
  elseif disabled and ARGV[b + 8] == 'reject' then
    result = { 'rejected' }
  else
    local delay = tonumber(ARGV[b + 3])
    local runAt = now + delay
    local status, event, outcome = 'waiting', 'added', 'created'
    if disabled then
      status, event, outcome = 'paused', 'held', 'held'
    elseif delay > 0 then
      status, event = 'delayed', 'delayed'
    end
    local ord = nextOrd(meta, now)
    redis.call('HSET', jobKey,
      'id', id, 'queue', queue, 'status', status, 'data', ARGV[b + 2],
      'attempts', 0, 'maxAttempts', ARGV[b + 6], 'stalledCount', 0, 'progress', 0,
      'priority', ARGV[b + 4], 'lifo', ARGV[b + 5], 'guaranteed', ARGV[b + 7],
      'createdAt', now, 'runAt', runAt, 'ord', int(ord))
    redis.call('ZADD', all, int(ord), id)
    redis.call('ZADD', P .. 's:' .. status, int(ord), id)
    timeline(tlKey, now, event)
    if status == 'waiting' then
      pushWait(meta, wait, id, ARGV[b + 4], ARGV[b + 5], channel)
    elseif status == 'delayed' then
      pushDelayed(delayed, id, runAt, channel)
    end
    if idx ~= '' and not indexed then redis.call('SET', idx .. id, queue) end
    result = { outcome, now, int(ord) }
  end
  results[i + 1] = result
end

return results
