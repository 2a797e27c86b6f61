-- Replaces a client's record only if nobody changed it since the caller read it.
-- KEYS[1] the client  ARGV[1] the new record (JSON)  ARGV[2] the revision the caller read
-- Returns 0 no such client, 1 updated, 2 changed meanwhile.
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
if tostring(cjson.decode(current)['revision']) ~= ARGV[2] then
  return 2
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
