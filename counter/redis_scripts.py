"""The Redis keys the counter uses and the Lua scripts that change them atomically.

Per counter name: ``total`` (the count shown, durable or not) and ``pending`` (views in ``total``
not yet added to the database). A set of names with pending views, a hash per batch of views
being written to the database, a lock that lets one process flush at a time, and per outage row
the number of its views already merged into ``total``.
"""

PREFIX = "herokuapp:counter:"
DIRTY = PREFIX + "dirty"
FLUSH_LOCK = PREFIX + "flush-lock"
INFLIGHT_PATTERN = PREFIX + "inflight:*"
RECENT_HITS = PREFIX + "recent-hits"
RECENT_HITS_KEPT = 10_000  # seconds of traffic at thousands of views a second
MERGED_TTL = 30 * 24 * 3600  # outlives the outage rows, which are compacted after a day


def total(name):
    return f"{PREFIX}{name}:total"


def pending(name):
    return f"{PREFIX}{name}:pending"


def inflight(batch):
    return f"{PREFIX}inflight:{batch}"


def merged(outage, name):
    return f"{PREFIX}merged:{outage}:{name}"


# Count one view (ARGV[2] is its id, kept among the recent hits): -1 when the total is missing
# (Redis restarted empty, or evicted it).
HIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local shown = redis.call('INCR', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('LPUSH', KEYS[4], ARGV[2])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[3]) - 1)
return shown
"""

# Move every pending view into one in-flight batch, returned as a flat name/count list.
TAKE_BATCH = """
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. name .. ':pending'
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 0 then
    redis.call('HINCRBY', KEYS[2], name, n)
    redis.call('DECRBY', key, n)
  end
  redis.call('SREM', KEYS[1], name)
end
return redis.call('HGETALL', KEYS[2])
"""

# Recreate a missing total from the durable total (ARGV[1]) plus views still pending in Redis.
# ARGV[3..] are (merged key, views) pairs for the outage rows the durable total already
# includes, recorded as merged for ARGV[2] seconds.
SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return tonumber(redis.call('GET', KEYS[1])) end
local seed = tonumber(ARGV[1]) + tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[1], seed)
for i = 3, #ARGV, 2 do redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ARGV[2]) end
return seed
"""

# Add to the total whatever part of an outage row it does not hold yet; -1 if there is no total.
MERGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local delta = tonumber(ARGV[1]) - tonumber(redis.call('GET', KEYS[2]) or '0')
if delta > 0 then
  redis.call('INCRBY', KEYS[1], delta)
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
end
return delta
"""

# Release the flush lock only if this process still holds it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
