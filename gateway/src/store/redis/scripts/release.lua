-- Ends a webhook attempt's lease. ARGV[1] '1': the endpoint took the envelope, so the mailbox
-- is consumed (the digest stays, as after a poll). '0': the envelope is pollable again.
-- Either way waiters are woken, to take the envelope or to learn it is gone.
-- KEYS[1] the mailbox  ARGV[1] consumed  ARGV[2] 's' SPUBLISH or 'p' PUBLISH
-- ARGV[3] channel  ARGV[4] message
if redis.call('HEXISTS', KEYS[1], 'env') == 0 then
  return 0
end
if ARGV[1] == '1' then
  redis.call('HDEL', KEYS[1], 'env', 'lease', 'kids', 'wh')
else
  redis.call('HDEL', KEYS[1], 'lease')
end
if ARGV[2] == 's' then
  redis.call('SPUBLISH', ARGV[3], ARGV[4])
else
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
