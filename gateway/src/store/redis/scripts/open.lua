-- Opens a mailbox: counts the client's open mailboxes against its cap, prunes expired ones,
-- and creates the mailbox hash with its TTL, set here once (HSET and HDEL keep a key's TTL).
-- ARGV[1] says which steps run, on which keys:
--   'both'    KEYS[1] the client's open set (tag -> expiry ms), KEYS[2] the mailbox: one
--             atomic step, on a single node
--   'index'   KEYS[1] the open set only (a cluster's first step: the set has the client's slot)
--   'create'  KEYS[1] the mailbox only (a cluster's second step: the mailbox has its own slot)
-- ARGV[2] now (ms)  ARGV[3] the cap  ARGV[4] the mailbox's tag  ARGV[5] its expiry (ms)
-- ARGV[6] how long the set outlives its last entry (ms)  ARGV[7] the owning client
-- ARGV[8] the client's key ids, space-separated  ARGV[9] '1' when a deposit enqueues a webhook
-- Returns {1 opened | 0 cap reached | -1 the mailbox key exists (a tag collision: never in
-- practice), number of open-set entries that had expired unconsumed}.
local mode = ARGV[1]
local pruned = 0
if mode ~= 'create' then
  local set = KEYS[1]
  pruned = redis.call('ZREMRANGEBYSCORE', set, '-inf', ARGV[2])
  if redis.call('ZCARD', set) >= tonumber(ARGV[3]) then
    return {0, pruned}
  end
  if mode == 'both' and redis.call('EXISTS', KEYS[2]) == 1 then
    return {-1, pruned}
  end
  redis.call('ZADD', set, ARGV[5], ARGV[4])
  local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', set, tonumber(last[2]) + tonumber(ARGV[6]))
end
if mode ~= 'index' then
  local mailbox = KEYS[#KEYS]
  if mode == 'create' and redis.call('EXISTS', mailbox) == 1 then
    return {-1, pruned}
  end
  redis.call('HSET', mailbox, 'client', ARGV[7], 'exp', ARGV[5], 'kids', ARGV[8], 'wh', ARGV[9])
  redis.call('PEXPIREAT', mailbox, ARGV[5])
end
return {1, pruned}
