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
    s:<status>  zset    jobs per status, only for paused, stalled, completed, failed and cancelled; score =
                        ord, for listJobs and countJobs. The hot statuses have none: waiting, active and
                        delayed jobs are counted by wait/active/delayed (waiting = wait minus s:stalled)
                        and listed from those sets or by filtering `all` (src/storage.ts), so
                        add -> claim -> complete writes no per-status entry before the completion.
    f:<status>  zset    finished jobs (completed/failed/cancelled); score = finishedAt with microseconds
                        as a fraction (finishedScore), for prune: jobs finished in the same millisecond
                        keep their finishing order instead of tying (a tie orders by id, i.e. at random)
    j:<id>      hash    the job record
    t:<id>      list    the job's stored timeline entries, one JSON entry per element, newest last

  The common path add -> active -> completed writes no timeline entry: the reader (decodeJob in
  src/codec.ts) derives `added` from createdAt, the claim's `active` from startedAt/workerId/attempts while
  the hash field `pa` is '1' (pending), and `completed` from finishedAt. Every script that stores an entry
  for a job that may have been claimed calls flushActive first, so the stored list stays in time order.
]]

-- The microseconds within the millisecond of the script's last nowMs() reading (see finishedScore).
local clockMicros = 0

-- Milliseconds by Redis' clock: lease and delay times never come from a client.
local function nowMs()
  local t = redis.call('TIME')
  local micros = tonumber(t[2])
  clockMicros = micros % 1000
  return tonumber(t[1]) * 1000 + math.floor(micros / 1000)
end

-- Integer-valued number as a decimal string (Lua's tostring keeps only 14 digits).
local function int(n)
  return string.format('%.0f', n)
end

-- The f:<status> score of a job finished at `now`, the script's last nowMs() reading: that millisecond with
-- its microseconds as a fraction (a double keeps microseconds apart at today's epoch). The k-th job (from 0)
-- that one script finishes gets k microseconds more, so a batch keeps its order too; a script takes far
-- longer than a microsecond per job it finishes, so the next script's reading is later still.
local function finishedScore(now, k)
  return string.format('%.3f', now + (clockMicros + (k or 0)) / 1000)
end

-- Appends `a` (and `b`, if given) to the list groups[key], creating the list on first use: batch writes
-- grouped by status, sent one command per group after a loop.
local function appendTo(groups, key, a, b)
  local list = groups[key]
  if not list then
    list = {}
    groups[key] = list
  end
  list[#list + 1] = a
  if b ~= nil then list[#list + 1] = b end
end

-- Appends a timeline entry and keeps the newest TIMELINE_LIMIT.
local function timeline(tlKey, at, event, workerId, detail)
  local entry = { at = at, event = event }
  if workerId and workerId ~= '' then entry.workerId = workerId end
  if detail and detail ~= '' then entry.detail = detail end
  if redis.call('RPUSH', tlKey, cjson.encode(entry)) > TIMELINE_LIMIT then
    redis.call('LTRIM', tlKey, -TIMELINE_LIMIT, -1)
  end
end

-- The statuses that have an s:<status> index (see the header).
local INDEXED = { paused = true, stalled = true, completed = true, failed = true, cancelled = true }

-- Moves a job from one per-status index to another and writes its status field.
local function setStatus(P, id, jobKey, from, to, ord)
  if from ~= to then
    if INDEXED[from] then redis.call('ZREM', P .. 's:' .. from, id) end
    if INDEXED[to] then redis.call('ZADD', P .. 's:' .. to, ord, id) end
  end
  redis.call('HSET', jobKey, 'status', to)
end

-- Puts a job into the wait set: behind the jobs of its priority (FIFO), or ahead of them when `front` is
-- '1' (LIFO jobs, and released or stalled jobs, which were due before anything queued behind them).
-- A waiting worker saw the set empty, so the first push after that finds it empty: publishing only
-- on that 0 -> 1 step wakes every waiter without a message per job.
local function pushWait(meta, wait, id, priority, front, channel)
  local seq = redis.call('HINCRBY', meta, 'seq', 1) % 2147483648
  local offset
  if front == '1' then offset = 2147483647 - seq else offset = 2147483648 + seq end
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

-- Stores the claim's pending `active` entry (see the header) before any later entry of the job, and
-- before a lease clear drops the workerId it names.
local function flushActive(jobKey, tlKey)
  if redis.call('HDEL', jobKey, 'pa') == 1 then
    local f = redis.call('HMGET', jobKey, 'startedAt', 'workerId', 'attempts')
    timeline(tlKey, tonumber(f[1]), 'active', f[2], 'attempt ' .. f[3])
  end
end

-- A job as the client parses it: { values of JOB_FIELDS in that order, timeline entries }. Values only (no
-- field names) halve what Redis writes and the client decodes for every claimed job.
local function readJob(jobKey, tlKey)
  return { redis.call('HMGET', jobKey, unpack(JOB_FIELDS)), redis.call('LRANGE', tlKey, 0, -1) }
end

-- Drops the lease: no token, no expiry, out of the active set. A job going back to the queue also loses
-- its workerId; a finished job keeps it as the last worker that held it, for the audit trail.
local function clearLease(jobKey, active, id, keepWorker)
  if keepWorker then
    redis.call('HDEL', jobKey, 'token', 'lockExpiresAt')
  else
    redis.call('HDEL', jobKey, 'token', 'workerId', 'lockExpiresAt')
  end
  redis.call('ZREM', active, id)
end

-- Whether HMGET'd status, token and lockExpiresAt describe a live lease held by `token` at `now`.
local function live(status, held, expires, token, now)
  local expiresAt = tonumber(expires)
  return status == 'active' and held == token and expiresAt ~= nil and expiresAt > now
end

-- The fence every token-taking write passes: `token` is the live lease token of an active job whose
-- lease has not expired by Redis' clock. Returns nil when it fails, else the fields the settle scripts
-- need, read in the same call: { workerId, ord, priority, attempts, lifo }.
local function fence(jobKey, token, now)
  local f = redis.call('HMGET', jobKey, 'status', 'token', 'lockExpiresAt', 'workerId', 'ord', 'priority',
    'attempts', 'lifo')
  if not live(f[1], f[2], f[3], token, now) then return nil end
  return { f[4] or '', f[5], f[6], f[7], f[8] }
end

-- The same fence for a completion, which needs only the job's `ord`: returns it, or nil.
local function fenceOrd(jobKey, token, now)
  local f = redis.call('HMGET', jobKey, 'status', 'token', 'lockExpiresAt', 'ord')
  if not live(f[1], f[2], f[3], token, now) then return nil end
  return f[4]
end

-- Deletes the id index entries (`idx .. id`) of removed jobs of `queue`, in one MGET and one DEL: only
-- entries naming this queue, as the id may since have been taken by a job of another queue. Standalone
-- Redis only (the index lives in other slots on Cluster, where the client deletes the entries).
local function dropIndex(idx, queue, ids)
  local indexKeys = {}
  for i, id in ipairs(ids) do indexKeys[i] = idx .. id end
  local owners = redis.call('MGET', unpack(indexKeys))
  local mine = {}
  for i, owner in ipairs(owners) do
    if owner == queue then mine[#mine + 1] = indexKeys[i] end
  end
  if #mine > 0 then redis.call('DEL', unpack(mine)) end
end

-- Marks a job finished with `status` (completed, failed, cancelled) at `now`; `field`/`value` is one more
-- hash field written in the same HSET (the result or the error).
local function finish(P, id, jobKey, from, status, ord, now, field, value)
  if field then
    redis.call('HSET', jobKey, 'finishedAt', now, 'status', status, field, value)
  else
    redis.call('HSET', jobKey, 'finishedAt', now, 'status', status)
  end
  if INDEXED[from] and from ~= status then redis.call('ZREM', P .. 's:' .. from, id) end
  redis.call('ZADD', P .. 's:' .. status, ord, id)
  redis.call('ZADD', P .. 'f:' .. status, finishedScore(now), id)
end

--[[
  Replies lost to a dropped connection. ioredis re-sends a command left without a reply when its connection
  drops (autoResendUnfulfilledCommands, on by default), so a script that ran but whose reply never arrived
  runs again; before, a re-sent claim claimed more jobs while the first run's were held by nobody until
  their lease expired (an at-most-once job then failed as "worker lost" without ever running), and a re-sent
  settle was rejected by its own first run. A call that claimed or settled something leaves a marker
  `P .. 'c:' .. <call id>` (a claim's tokenHead, new for every call and the same for a re-send; a fail's
  token); a run that finds it is a re-send and answers what the first run did instead of doing it again
  (replayClaim in includes/claim.lua rebuilds a claim's reply). The marker holds only what the reply cannot
  be rebuilt from (complete-and-claim's flags) and lives REPLY_MARK_MS; a re-send after that runs anew.
]]
local REPLY_MARK_MS = 60000

local function replyMark(P, callId)
  return P .. 'c:' .. callId
end

