--[[
  complete: settle a job as completed. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline     KEYS[3] active set

  ARGV[1] P     ARGV[2] id     ARGV[3] token     ARGV[4] result (JSON)

  Stores the result, clears the lease (workerId stays, for the audit trail), sets finishedAt, appends `completed`. Returns 1, or 0 when the
  token is stale: a zombie never overwrites the re-run's result.
]]
local jobKey, tlKey, active = KEYS[1], KEYS[2], KEYS[3]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local lease = fence(jobKey, ARGV[3], now)
if not lease then return 0 end
clearLease(jobKey, active, id, true)
finish(P, id, jobKey, 'active', 'completed', lease[2], now, 'result', ARGV[4])
timeline(tlKey, now, 'completed', lease[1])
return 1
