--[[
  complete: settle a job as completed. Fenced by the lease token.

  KEYS[1] job hash     KEYS[2] timeline (unused since the entry is derived; kept for the key count)
  KEYS[3] active set

  ARGV[1] P     ARGV[2] id     ARGV[3] token     ARGV[4] result (JSON)

  Stores the result, clears the lease (workerId stays, for the audit trail), sets finishedAt. The
  `completed` timeline entry is derived from finishedAt by the reader (includes/common.lua), so nothing is
  appended. Returns 1, or 0 when the token is stale: a zombie never overwrites the re-run's result.
]]
local jobKey, active = KEYS[1], KEYS[3]
local P, id = ARGV[1], ARGV[2]
local now = nowMs()
local lease = fence(jobKey, ARGV[3], now)
if not lease then return 0 end
completeJob(P, id, jobKey, active, lease[2], now, ARGV[4])
return 1
