-- Replaces a live device registration's subscription and expiry, if the client and the
-- secret's hash are the registration's.
-- KEYS[1] the registration (P dev:{tag})
-- ARGV[1] the client  ARGV[2] the secret's hash  ARGV[3] now (ms)
-- ARGV[4] endpoint  ARGV[5] p256dh  ARGV[6] auth  ARGV[7] the new expiry (ms)
-- Returns 1 replaced, 0 unknown (expired, another client's, or a wrong secret).
local d = redis.call('HMGET', KEYS[1], 'client', 'sec', 'exp')
if not d[1] or d[1] ~= ARGV[1] or d[2] ~= ARGV[2] or tonumber(d[3]) <= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'ep', ARGV[4], 'p256dh', ARGV[5], 'auth', ARGV[6], 'exp', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
return 1
