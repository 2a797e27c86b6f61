-- Records a webhook delivery unless one with the same id exists (a retried deposit).
-- KEYS[1] the due set (score: next attempt, ms)  KEYS[2] the delivery records
-- ARGV[1] delivery id  ARGV[2] record (JSON)  ARGV[3] due at (ms)
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
