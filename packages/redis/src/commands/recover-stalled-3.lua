--[[
  recover-stalled: act on active jobs whose lease expired by Redis' clock.

  KEYS[1] meta     KEYS[2] wait     KEYS[3] active

  ARGV[1] P     ARGV[2] maxStalledCount     ARGV[3] limit     ARGV[4] wake-up channel

  The active set is scored by lease expiry, so expired leases are one range read. Each job found is
  removed from the active set in this same step, so when several nodes scan at once each expired lease
  is acted on by exactly one of them. Per job, the lease is cleared and:
    guaranteed, stalledCount + 1 <= maxStalledCount: status `stalled`, back at the front of the wait set, a `stalled` entry
    guaranteed, over maxStalledCount:               `failed` as a poison job (`stalled` + `failed` entries)
    at-most-once:                                  `failed` with "worker lost" (`worker-lost` entry)

  Returns { { 'requeued' | 'failed', { values, timeline } }, ... }.
]]
local meta, wait, active = KEYS[1], KEYS[2], KEYS[3]
local P, maxStalled, limit, channel = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = nowMs()
local expired = redis.call('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, id in ipairs(expired) do
  local jobKey, tlKey = P .. 'j:' .. id, P .. 't:' .. id
  redis.call('ZREM', active, id)
  local f = redis.call('HMGET', jobKey, 'status', 'guaranteed', 'workerId', 'ord', 'priority')
  if f[1] == 'active' then
    flushActive(jobKey, tlKey)
    local workerId = f[3] or ''
    local action
    if f[2] == '1' then
      local stalled = redis.call('HINCRBY', jobKey, 'stalledCount', 1)
      timeline(tlKey, now, 'stalled', workerId, 'stall ' .. stalled)
      if stalled > maxStalled then
        clearLease(jobKey, active, id, true)
        local message = 'Job ' .. id .. ' stalled ' .. stalled .. ' times (maxStalledCount ' .. maxStalled ..
          '); it failed as a poison job. Check what kills or blocks its worker, then retry it.'
        finish(P, id, jobKey, 'active', 'failed', f[4], now, 'error',
          cjson.encode({ name = 'StalledJobError', message = message }))
        timeline(tlKey, now, 'failed', workerId, message)
        action = 'failed'
      else
        -- Back at the front: it was due before anything queued behind it.
        clearLease(jobKey, active, id)
        setStatus(P, id, jobKey, 'active', 'stalled', f[4])
        pushWait(meta, wait, id, f[5], '1', channel)
        action = 'requeued'
      end
    else
      local message = 'worker lost: the lease of job ' .. id .. ' expired before it settled; it is ' ..
        'at-most-once (guaranteedWorker: false), so it was not run again.'
      clearLease(jobKey, active, id, true)
      finish(P, id, jobKey, 'active', 'failed', f[4], now, 'error',
        cjson.encode({ name = 'WorkerLostError', message = message }))
      timeline(tlKey, now, 'worker-lost', workerId, message)
      action = 'failed'
    end
    out[#out + 1] = { action, readJob(jobKey, tlKey) }
  end
end
return out
