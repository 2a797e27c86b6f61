-- Checks a deposit against its mailbox, stores the one envelope, enqueues the webhook delivery
-- and publishes the wake-up, in one atomic step.
-- KEYS[1] the mailbox; on a single node also KEYS[2] the delivery due set and KEYS[3] the
-- delivery records, so that the delivery is enqueued here (on a cluster they have another
-- slot, and the caller enqueues it when told to)
-- ARGV[1] the envelope  ARGV[2] its SHA-256 (32 bytes)  ARGV[3] now (ms)
-- ARGV[4] the header's aud  ARGV[5] the header's kid
-- ARGV[6] 's' for SPUBLISH (cluster), 'p' for PUBLISH  ARGV[7] channel  ARGV[8] message
-- ARGV[9] the delivery id  ARGV[10], ARGV[11] the delivery record (JSON) before and after its
-- expiry, which is the mailbox's and is written between them
-- Returns {outcome, webhook, expiry}: outcome 0 not found, 1 stored, 2 identical retry,
-- 3 conflict, 4 another client's mailbox, 5 a kid not among the mailbox's; webhook 1 when the
-- stored envelope wants a delivery (already enqueued if KEYS[2] was given).
local m = redis.call('HMGET', KEYS[1], 'client', 'exp', 'kids', 'wh', 'dig')
if not m[1] or tonumber(m[2]) <= tonumber(ARGV[3]) then
  return {0, 0, 0}
end
if m[1] ~= ARGV[4] then
  return {4, 0, 0}
end
-- `dig` is written with `env` and stays after consumption: one comparison covers both. It
-- comes before the kid check, since consumption drops `kids` (an identical retry has the kid
-- that passed the first time).
if m[5] then
  if m[5] == ARGV[2] then return {2, 0, 0} end
  return {3, 0, 0}
end
local known = false
for kid in string.gmatch(m[3] or '', '%S+') do
  if kid == ARGV[5] then
    known = true
    break
  end
end
if not known then
  return {5, 0, 0}
end
local webhook = 0
if m[4] == '1' then
  webhook = 1
  if KEYS[2] then
    if redis.call('HSETNX', KEYS[3], ARGV[9], ARGV[10] .. m[2] .. ARGV[11]) == 1 then
      redis.call('ZADD', KEYS[2], ARGV[3], ARGV[9])
    end
  end
end
redis.call('HSET', KEYS[1], 'env', ARGV[1], 'dig', ARGV[2])
if ARGV[6] == 's' then
  redis.call('SPUBLISH', ARGV[7], ARGV[8])
else
  redis.call('PUBLISH', ARGV[7], ARGV[8])
end
return {1, webhook, tonumber(m[2])}
