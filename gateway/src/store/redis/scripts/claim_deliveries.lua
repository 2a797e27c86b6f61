-- Claims due webhook deliveries: each moves to the end of the lease, so no other instance
-- takes it until the lease ends (and one does if this instance dies).
-- KEYS[1] the due set  KEYS[2] the delivery records
-- ARGV[1] now (ms)  ARGV[2] lease end (ms)  ARGV[3] the most to claim
-- Returns the claimed records (JSON).
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    claimed[#claimed + 1] = record
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
