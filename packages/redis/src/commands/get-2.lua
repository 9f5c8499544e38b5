--[[
  get: read one job record and its timeline as one consistent snapshot.

  KEYS[1] job hash     KEYS[2] timeline

  Returns { fields, timeline }; fields is empty when there is no such job.
]]
return readJob(KEYS[1], KEYS[2])
