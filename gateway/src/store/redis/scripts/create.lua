-- Creates a mailbox. Its TTL is set here, once: no later write extends it (HSET and HDEL
-- keep a key's TTL).
-- KEYS[1] the mailbox  ARGV[1] the owning client  ARGV[2] expiry (ms since the epoch)
-- Returns 1, or 0 when the key already exists (a tag collision: never in practice).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'client', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
