"""The Lua scripts behind `RedisState`, and why each compound operation is one script.

Redis runs a script to completion before it serves any other command, from any client: a
script is a transaction that cannot interleave. Two instances racing for the last slot of a
window both send TAKE; Redis runs one, which records the request, then the other, which finds
the window full. Read-then-write from the client (ZCARD, then ZADD) would let both read 59 and
both write: 61 requests in a window of 60. So every operation that reads to decide what to
write is a script here; scripts touch only the keys they are given (KEYS), as Redis requires.

Times come from the caller (ARGV), never from Redis TIME: all instances and the tests reckon
with the same wall-clock numbers. Every time is passed as Python's `repr` of the float and
handed to Redis as that string (ZADD score, ZRANGEBYSCORE bound), never recomputed in Lua,
whose number-to-string conversion keeps only 14 digits. For the same reason TAKE answers with
the *score* of the entry whose departure makes room, exactly as stored, and Python computes
`score + seconds - now` just as `LocalState` does, so both answer the same float.

A window is a sorted set (`log`) of entries scored by their time, member
`"<now>|<seq>:<requests>:<tokens>"` (`seq` from a per-scope counter makes members unique),
and a hash (`sum`) with the totals `r` and `t`, kept in step by every script that touches
the log, so "is there room?" costs O(1) plus the pruning of what expired. Both keys expire
(real time) a little after the window's span, so idle scopes vanish; should one be evicted
without the other, the script notices and mends the totals before using them.
"""

from __future__ import annotations

_PARSE = """
local function parse(member)
  local _, _, r, t = string.find(member, "|%d+:(%d+):(%d+)$")
  return tonumber(r), tonumber(t)
end
"""

# KEYS: seq, then log and sum of each window, then the scope's caps. ARGV: now, tokens, seq's
# expiry (ms), then per window: cutoff (now - seconds), max requests (-1: none), max tokens (-1:
# none), expiry (ms). Returns nil when recorded; else a table, one string per window: "" (room),
# the score of the entry whose departure makes room, or "never"; then one for the caps: "" or
# the `until` (as stored) of the latest-ending cap with too little left.
# A cap is a field of the caps hash: name -> "<kind>|<remaining>|<until>|<seen>".
TAKE = (
    _PARSE
    + """
local now, tokens = ARGV[1], tonumber(ARGV[2])
local windows = (#KEYS - 2) / 2
local caps = KEYS[#KEYS]

local function counted(log, sum, cutoff, expiry)
  if redis.call('EXISTS', sum) == 0 then
    -- a new window, or its totals were evicted: rebuild them from what is left of the log
    redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
    local r, t = 0, 0
    for _, member in ipairs(redis.call('ZRANGE', log, 0, -1)) do
      local a, b = parse(member)
      r, t = r + a, t + b
    end
    if r + t > 0 then
      redis.call('HSET', sum, 'r', r, 't', t)
      redis.call('PEXPIRE', sum, expiry)
    end
    return r, t
  end
  if redis.call('EXISTS', log) == 0 then
    redis.call('DEL', sum)  -- the log was evicted: its totals count nothing
    return 0, 0
  end
  local gone = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  if #gone > 0 then
    local r, t = 0, 0
    for _, member in ipairs(gone) do
      local a, b = parse(member)
      r, t = r + a, t + b
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
    redis.call('HINCRBY', sum, 'r', 0 - r)  -- never -0, which Redis refuses
    redis.call('HINCRBY', sum, 't', 0 - t)
  end
  local have = redis.call('HMGET', sum, 'r', 't')
  return tonumber(have[1]) or 0, tonumber(have[2]) or 0
end

local function ready_at(log, excess, field)
  local start = 0
  while true do
    local page = redis.call('ZRANGE', log, start, start + 99, 'WITHSCORES')
    if #page == 0 then return 'never' end
    for j = 1, #page, 2 do
      local r, t = parse(page[j])
      if field == 1 then excess = excess - r else excess = excess - t end
      if excess <= 0 then return page[j + 1] end
    end
    start = start + 100
  end
end

local answers, blocked = {}, false
for i = 1, windows do
  local log, sum, base = KEYS[2 * i], KEYS[2 * i + 1], 4 + 4 * (i - 1)
  local max_r, max_t = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local have_r, have_t = counted(log, sum, ARGV[base], ARGV[base + 3])
  local answer = ''
  if max_r >= 0 and 1 > max_r then answer = 'never'
  elseif max_t >= 0 and tokens > max_t then answer = 'never'
  else
    local late = nil
    if max_r >= 0 and have_r + 1 > max_r then late = ready_at(log, have_r + 1 - max_r, 1) end
    if max_t >= 0 and have_t + tokens > max_t then
      local by_tokens = ready_at(log, have_t + tokens - max_t, 2)
      if late == nil or by_tokens == 'never' or
         (late ~= 'never' and tonumber(by_tokens) > tonumber(late)) then
        late = by_tokens
      end
    end
    if late ~= nil then answer = late end
  end
  if answer ~= '' then blocked = true end
  answers[i] = answer
end

local capped, spent = '', {}
local held = redis.call('HGETALL', caps)
for j = 1, #held, 2 do
  local kind, left, ends, seen = string.match(held[j + 1], '^(%a+)|(%-?%d+)|([^|]+)|([^|]+)$')
  if kind == nil or tonumber(ends) <= tonumber(now) then
    redis.call('HDEL', caps, held[j])  -- the upstream's window has reset (or the field is junk)
  else
    local need = 1
    if kind == 'tokens' then need = tokens end
    left = tonumber(left)
    if left < need then
      if capped == '' or tonumber(ends) > tonumber(capped) then capped = ends end
    else
      spent[#spent + 1] = {held[j], kind .. '|' .. (left - need) .. '|' .. ends .. '|' .. seen}
    end
  end
end
answers[windows + 1] = capped
if capped ~= '' then blocked = true end
if blocked then return answers end
for _, cap in ipairs(spent) do redis.call('HSET', caps, cap[1], cap[2]) end

local member = now .. '|' .. redis.call('INCR', KEYS[1]) .. ':1:' .. ARGV[2]
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 1, windows do
  local log, sum, base = KEYS[2 * i], KEYS[2 * i + 1], 4 + 4 * (i - 1)
  redis.call('ZADD', log, now, member)
  redis.call('HINCRBY', sum, 'r', 1)
  redis.call('HINCRBY', sum, 't', tokens)
  redis.call('PEXPIRE', log, ARGV[base + 3])
  redis.call('PEXPIRE', sum, ARGV[base + 3])
end
return nil
"""
)

# KEYS: the scope's caps hash. ARGV: the hash's expiry (ms), then per cap: name, value (as in
# TAKE), seen. A cap replaces the field of its name unless that one was seen later.
OBSERVE = """
for i = 2, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local seen = current and string.match(current, '|([^|]+)$')
  if not (seen and tonumber(seen) > tonumber(ARGV[i + 2])) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
"""

# KEYS: seq, then log and sum of each window. ARGV: now, tokens, then expiry (ms) per window.
# Records `tokens` without a request in every existing window (a positive settle).
SETTLE = """
local member = ARGV[1] .. '|' .. redis.call('INCR', KEYS[1]) .. ':0:' .. ARGV[2]
local longest = 0
for i = 3, #ARGV do longest = math.max(longest, tonumber(ARGV[i])) end
if longest > 0 and redis.call('PTTL', KEYS[1]) < longest then
  redis.call('PEXPIRE', KEYS[1], longest)  -- an expired seq comes back: it must go again
end
for i = 1, (#KEYS - 1) / 2 do
  local log, sum = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('EXISTS', log) == 1 and redis.call('EXISTS', sum) == 1 then
    redis.call('ZADD', log, ARGV[1], member)
    redis.call('HINCRBY', sum, 't', ARGV[2])
    redis.call('PEXPIRE', log, ARGV[2 + i])
    redis.call('PEXPIRE', sum, ARGV[2 + i])
  end
end
return 1
"""

# KEYS: the key's lease set (member lease id, score expiry). ARGV: now, cap, lease id,
# expiry, expiry of the set (ms). 1 if leased (or renewed), 0 if all `cap` slots are live.
LEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or
   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
  end
  return 1
end
return 0
"""

# KEYS: the cooldown set (member key SEP scope, score end), the strikes hash (member ->
# strikes). ARGV: member, until, strikes, now. Extend only; the strikes are the most reported
# while the cooldown lasts; one that has ended (by `now`) is replaced, ladder and all.
COOL = """
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) <= tonumber(ARGV[4]) then
  current = nil
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local strikes = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[3]) > strikes then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

# KEYS: the cooldown set, the strikes hash. ARGV: now, prefix. Drops what has ended (and its
# strikes); returns the rest under the prefix as a flat list: member, end, strikes, ...
COOLING = """
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #ended > 0 then
  for _, member in ipairs(ended) do redis.call('HDEL', KEYS[2], member) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
local found = {}
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for j = 1, #all, 2 do
  if string.sub(all[j], 1, #ARGV[2]) == ARGV[2] then
    found[#found + 1] = all[j]
    found[#found + 1] = all[j + 1]
    found[#found + 1] = redis.call('HGET', KEYS[2], all[j]) or '1'
  end
end
return found
"""

# KEYS: the probe's key. ARGV: now, until, expiry (ms). 1 if claimed, 0 if held by anyone.
CLAIM_PROBE = """
local held = redis.call('GET', KEYS[1])
if held and tonumber(held) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: the instance set (member name, score alive-until). ARGV: now, until, name, expiry
# (ms). Returns how many instances are alive.
HEARTBEAT = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return redis.call('ZCARD', KEYS[1])
"""
