-- Takes the envelope out of a mailbox: of concurrent callers, on any instance, one gets it.
-- The digest (and the owner) stay until the TTL so that an identical deposit retry is still
-- recognised.
-- KEYS[1] the mailbox; on a single node also KEYS[2] the client's open set, from which the
-- mailbox is removed in the same step (on a cluster the caller does it)
-- ARGV[1] the calling client  ARGV[2] now (ms)  ARGV[3] the mailbox's tag
-- Returns {0} not found (or not this client's, or consumed), {2} pending (also while a
-- webhook attempt holds the envelope), {1, envelope}.
local m = redis.call('HMGET', KEYS[1], 'client', 'exp', 'env', 'dig', 'lease')
if not m[1] or m[1] ~= ARGV[1] or tonumber(m[2]) <= tonumber(ARGV[2]) then
  return {0}
end
if m[3] then
  -- A webhook attempt holds the envelope: pending until it is consumed or released.
  if m[5] and tonumber(m[5]) > tonumber(ARGV[2]) then
    return {2}
  end
  -- Only the owner and the digest stay, for an identical retry.
  redis.call('HDEL', KEYS[1], 'env', 'lease', 'kids', 'wh')
  if KEYS[2] then
    redis.call('ZREM', KEYS[2], ARGV[3])
  end
  return {1, m[3]}
end
if m[4] then
  return {0}
end
return {2}
