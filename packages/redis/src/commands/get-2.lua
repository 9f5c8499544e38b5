--[[
  get: read one job record and its timeline as one consistent snapshot.

  KEYS[1] job hash     KEYS[2] timeline

  Returns { values, timeline } (see readJob in includes/common.lua); the id is nil when there is no such job.
]]
return readJob(KEYS[1], KEYS[2])
