-- Deletes a client's mailbox unless it was consumed, and wakes its waiters.
-- KEYS[1] the mailbox; on a single node also KEYS[2] the client's open set, from which the
-- mailbox is removed in the same step (on a cluster the caller does it)
-- ARGV[1] the calling client  ARGV[2] now (ms)
-- ARGV[3] 's' for SPUBLISH (cluster), 'p' for PUBLISH  ARGV[4] channel  ARGV[5] the tag (the
-- message, and the open set's member)
-- Returns 1 cancelled, 0 not found (or not this client's, or consumed).
local m = redis.call('HMGET', KEYS[1], 'client', 'exp', 'env', 'dig')
if not m[1] or m[1] ~= ARGV[1] or tonumber(m[2]) <= tonumber(ARGV[2]) then
  return 0
end
if m[4] and not m[3] then
  return 0
end
redis.call('DEL', KEYS[1])
if KEYS[2] then
  redis.call('ZREM', KEYS[2], ARGV[5])
end
if ARGV[3] == 's' then
  redis.call('SPUBLISH', ARGV[4], ARGV[5])
else
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return 1
