-- Counts a client's open mailboxes against its cap and, below it, adds the new one.
-- KEYS[1] the client's open set (tag -> expiry ms)
-- ARGV[1] now (ms)  ARGV[2] the cap  ARGV[3] the new mailbox's tag  ARGV[4] its expiry (ms)
-- ARGV[5] how long the set outlives its last entry (ms)
-- Returns {1 opened | 0 cap reached, number of entries that had expired unconsumed}.
local pruned = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, pruned}
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + tonumber(ARGV[5]))
return {1, pruned}
