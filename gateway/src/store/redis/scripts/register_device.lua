-- Counts the live device registrations against the cap and saves a new one, with its TTL.
-- KEYS[1] the registration (P dev:{tag}); on a single node also KEYS[2] the index of
-- registrations (tag scored by expiry), counted and updated in the same step (on a cluster
-- the caller does both)
-- ARGV[1] the client  ARGV[2] endpoint  ARGV[3] p256dh  ARGV[4] auth  ARGV[5] secret hash
-- ARGV[6] expiry (ms)  ARGV[7] now (ms)  ARGV[8] the cap (0: none)  ARGV[9] the tag
-- Returns 1 registered, 0 the cap is reached.
if KEYS[2] then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
  local cap = tonumber(ARGV[8])
  if cap > 0 and redis.call('ZCARD', KEYS[2]) >= cap then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'client', ARGV[1], 'ep', ARGV[2], 'p256dh', ARGV[3],
  'auth', ARGV[4], 'sec', ARGV[5], 'exp', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[9])
end
return 1
