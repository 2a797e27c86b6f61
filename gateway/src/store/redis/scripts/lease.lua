-- Lends a mailbox's envelope to one webhook attempt until ARGV[2]; a poll meanwhile sees the
-- mailbox pending (take.lua checks `lease`).
-- KEYS[1] the mailbox  ARGV[1] now (ms)  ARGV[2] lease end (ms)
-- Returns {0} gone (expired, consumed, cancelled), {2} busy (leased, or not deposited yet),
-- {1, envelope}.
local m = redis.call('HMGET', KEYS[1], 'exp', 'env', 'dig', 'lease')
if not m[1] or tonumber(m[1]) <= tonumber(ARGV[1]) then
  return {0}
end
if m[2] then
  if m[4] and tonumber(m[4]) > tonumber(ARGV[1]) then
    return {2}
  end
  redis.call('HSET', KEYS[1], 'lease', ARGV[2])
  return {1, m[2]}
end
if m[3] then
  return {0}
end
return {2}
