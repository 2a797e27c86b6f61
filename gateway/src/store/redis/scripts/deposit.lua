-- Stores a mailbox's one envelope, and publishes the wake-up in the same atomic step.
-- KEYS[1] the mailbox
-- ARGV[1] the envelope  ARGV[2] its SHA-256 (32 bytes)  ARGV[3] now (ms)
-- ARGV[4] 's' for SPUBLISH (cluster), 'p' for PUBLISH  ARGV[5] channel  ARGV[6] message
-- Returns 0 not found, 1 stored, 2 identical retry, 3 conflict.
local m = redis.call('HMGET', KEYS[1], 'exp', 'dig')
if not m[1] or tonumber(m[1]) <= tonumber(ARGV[3]) then
  return 0
end
-- `dig` is written with `env` and stays after consumption: one comparison covers both.
if m[2] then
  if m[2] == ARGV[2] then return 2 end
  return 3
end
redis.call('HSET', KEYS[1], 'env', ARGV[1], 'dig', ARGV[2])
if ARGV[4] == 's' then
  redis.call('SPUBLISH', ARGV[5], ARGV[6])
else
  redis.call('PUBLISH', ARGV[5], ARGV[6])
end
return 1
