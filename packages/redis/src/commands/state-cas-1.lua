--[[
  state-cas: compare-and-set of a shared JSON state value.

  KEYS[1] state key

  ARGV[1] expected canonical JSON ('' = absent)     ARGV[2] next canonical JSON ('' = delete)

  The client writes every value as canonical JSON (object keys sorted), so deep JSON equality is
  string equality here. Returns 1 when written, 0 when the current value differs.
]]
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
