-- Reads a live device registration of the client and moves its idle expiry.
-- KEYS[1] the registration (P dev:{tag})
-- ARGV[1] the client  ARGV[2] now (ms)  ARGV[3] the new expiry (ms)
-- Returns {endpoint, p256dh, auth, secret hash}, or nil when unknown (expired, or another
-- client's).
local d = redis.call('HMGET', KEYS[1], 'client', 'exp', 'ep', 'p256dh', 'auth', 'sec')
if not d[1] or d[1] ~= ARGV[1] or tonumber(d[2]) <= tonumber(ARGV[2]) then
  return false
end
redis.call('HSET', KEYS[1], 'exp', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {d[3], d[4], d[5], d[6]}
