-- Deletes a device registration of the client: with the secret's hash, only a live one
-- whose hash matches; with an empty hash (the push service said it is gone), any.
-- KEYS[1] the registration (P dev:{tag})
-- ARGV[1] the client  ARGV[2] the secret's hash, or ''  ARGV[3] now (ms)
-- Returns 1 deleted, 0 unknown (expired, another client's, or a wrong secret).
local d = redis.call('HMGET', KEYS[1], 'client', 'sec', 'exp')
if not d[1] or d[1] ~= ARGV[1] then
  return 0
end
if ARGV[2] ~= '' and (d[2] ~= ARGV[2] or tonumber(d[3]) <= tonumber(ARGV[3])) then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
