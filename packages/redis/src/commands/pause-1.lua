--[[
  pause: set or clear a queue's paused flag. While paused, claims return nothing; adds are accepted.

  KEYS[1] meta

  ARGV[1] paused (1|0)     ARGV[2] wake-up channel

  Resuming wakes waiting workers: they saw the queue paused and would otherwise wait for a new job.
  Returns 1.
]]
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'paused', '1')
else
  redis.call('HDEL', KEYS[1], 'paused')
  redis.call('PUBLISH', ARGV[2], 'r')
end
return 1
