--[[
  index-set: claim a job id in the namespace's id -> queue index (used where the index cannot be
  written by the add script itself, i.e. on Redis Cluster, where it lives in another slot).

  An entry written here is the queue name, a newline and the server's time in ms when it was written (the
  add script writes the bare name): the client stores the job with a second call, so until then the entry
  names a queue without the job, like the leftover of an add that crashed in between. The time tells the two
  apart: an entry younger than ARGV[3] ms is not replaced, so a concurrent add of the same id to another
  queue waits for this one to store its job (and is its duplicate) instead of taking the id over.

  KEYS[1] index key of the id

  ARGV[1] queue     ARGV[2] expected ('' = none): a stale entry to replace, as read before
  ARGV[3] grace ms: how young an expected entry may be and still not be replaced

  Returns { '' } when the index now names ARGV[1] because of this call, else { entry, age in ms } of the
  entry it holds (age -1 when unknown: a bare queue name).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = redis.call('GET', KEYS[1])
local age = -1
if current then
  local at = string.match(current, '\n(%d+)$')
  if at then age = now - tonumber(at) end
end
if not current or (ARGV[2] ~= '' and current == ARGV[2] and (age < 0 or age >= tonumber(ARGV[3]))) then
  redis.call('SET', KEYS[1], ARGV[1] .. '\n' .. now)
  return { '' }
end
return { current, age }
