-- Saves a delivery's next attempt, if it is still recorded.
-- KEYS[1] the due set  KEYS[2] the delivery records
-- ARGV[1] delivery id  ARGV[2] record (JSON)  ARGV[3] due at (ms)
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
