"""The Redis keys the counter uses and the Lua scripts that change them atomically.

Per counter name: ``total`` (the count shown, durable or not) and a ``meta`` hash: ``pending``
(views in ``total`` not yet added to the database), ``seq`` (views counted in this generation of
the total), ``gen`` (the generation: it changes each time Redis loses the name's state and it is
recreated from the database), ``floor`` (no number below it is shown: numbers shown before Redis
lost the state, or taken in the database during an outage), ``ceiling`` (Redis's copy of the
database's bound on the numbers it shows, see counter.bounds) and, after a loss, what the lost
generation had made durable, so that processes can restore the views they saw counted and Redis
lost (see RESTORE).

Beside those: a set of names with pending views, a hash per batch of views being written to the
database, a lock that lets one process flush at a time, per outage row the number of its views
already merged into ``total``, and an epoch token whose disappearance tells every process that
Redis lost its data.
"""

PREFIX = "herokuapp:counter:"
DIRTY = PREFIX + "dirty"
EPOCH = PREFIX + "epoch"
FLUSH_LOCK = PREFIX + "flush-lock"
INFLIGHT_PATTERN = PREFIX + "inflight:*"
RECENT_HITS = PREFIX + "recent-hits"
RECENT_HITS_KEPT = 10_000  # seconds of traffic at thousands of views a second
# The list is cut back to RECENT_HITS_KEPT only once it is this much longer: one command per view
# instead of two, for at most this many more ids held.
RECENT_HITS_SLACK = 1_000
MERGED_TTL = 30 * 24 * 3600  # outlives the outage rows, which are compacted after a day


def total(name):
    return f"{PREFIX}{name}:total"


def meta(name):
    return f"{PREFIX}{name}:meta"


def inflight(batch):
    return f"{PREFIX}inflight:{batch}"


def merged(outage, name):
    return f"{PREFIX}merged:{outage}:{name}"


# Count one view (ARGV[2] is its id, kept among the recent hits: the ARGV[3] newest at least, at
# most ARGV[4]). Returns {total, seq, gen, floor, ceiling}: the view's number is the larger of
# total and floor. -1 when the total or its meta is missing (Redis restarted empty, or evicted
# them). It runs on every page view: each command it saves is Redis CPU saved per view.
HIT = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) < 2 then return -1 end
local shown = redis.call('INCR', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'pending', 1)
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('LPUSH', KEYS[4], ARGV[2]) > tonumber(ARGV[4]) then
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[3]) - 1)
end
local state = redis.call('HMGET', KEYS[2], 'gen', 'floor', 'ceiling')
return {shown, seq, tonumber(state[1]), tonumber(state[2] or '0'), tonumber(state[3] or '0')}
"""

# Move every pending view into one in-flight batch. Each name's field is "views:seq:gen": every
# view of that generation numbered up to seq is in this batch or an earlier one. Returns the hash.
TAKE_BATCH = """
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. name .. ':meta'
  local n = tonumber(redis.call('HGET', key, 'pending') or '0')
  if n > 0 then
    redis.call('HINCRBY', key, 'pending', -n)
    local state = redis.call('HMGET', key, 'seq', 'gen')
    redis.call('HSET', KEYS[2], name, n .. ':' .. (state[1] or '0') .. ':' .. (state[2] or '0'))
  end
  redis.call('SREM', KEYS[1], name)
end
return redis.call('HGETALL', KEYS[2])
"""

# Recreate a missing total from the durable total (ARGV[1]). ARGV[3..7]: the new generation; the
# generation, seq made durable and unsettled uncertain hits the database holds for the old one; and
# how many of the old one's views past that seq processes reported seeing counted. ARGV[9] is the
# highest number the database knows may have been shown, which becomes the floor and the ceiling.
# ARGV[10..] are (merged key, views) pairs for the outage rows the durable total already includes,
# recorded as merged for ARGV[2] seconds. With the meta intact only the total was lost: its pending
# views are added back. With the meta gone its pending views were lost: a new generation starts
# with those reported ones restored at once, since processes counting in the database already
# number above them, and RESTORE may bring back the rest. Returns {total, 1 if a new generation
# started else 0}.
SEED = """
local has_total = redis.call('EXISTS', KEYS[1]) == 1
local has_meta = redis.call('EXISTS', KEYS[2]) == 1
if has_total and has_meta then return {tonumber(redis.call('GET', KEYS[1])), 0} end
local seed = tonumber(ARGV[1])
local renewed = 0
if has_meta then
  seed = seed + tonumber(redis.call('HGET', KEYS[2], 'pending') or '0')
else
  local restored = tonumber(ARGV[7])
  redis.call('HSET', KEYS[2], 'gen', ARGV[3], 'seq', restored, 'pending', restored,
    'lost_gen', ARGV[4], 'lost_seq', ARGV[5], 'lost_unsure', ARGV[6], 'restored', restored)
  if restored > 0 then redis.call('SADD', KEYS[3], ARGV[8]) end
  seed = seed + restored
  renewed = 1
end
redis.call('SET', KEYS[1], seed)
for _, field in ipairs({'floor', 'ceiling'}) do
  local current = redis.call('HGET', KEYS[2], field)
  if not current or tonumber(current) < tonumber(ARGV[9]) then
    redis.call('HSET', KEYS[2], field, ARGV[9])
  end
end
for i = 10, #ARGV, 2 do redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ARGV[2]) end
return {seed, renewed}
"""

# Restore views of a lost generation (ARGV[2]) that a process saw counted up to seq ARGV[3]: those
# above the seq the database held, less the uncertain hits (which count in outage rows). Processes
# restore up to the highest seq any of them saw, never the same view twice. Restored views take
# seq numbers in the new generation, like views counted in it, so that what processes report
# seeing and what batches bring to the database includes them. Returns {views restored, the new
# generation's seq}, restoring nothing if ARGV[2] is not the lost generation; -1 if the total is
# missing.
RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local lost = redis.call('HMGET', KEYS[2], 'lost_gen', 'lost_seq', 'lost_unsure', 'restored', 'seq')
local seq = tonumber(lost[5])
if lost[1] ~= ARGV[2] then return {0, seq} end
local wanted = tonumber(ARGV[3]) - tonumber(lost[2]) - tonumber(lost[3])
local delta = wanted - tonumber(lost[4])
if delta <= 0 then return {0, seq} end
redis.call('INCRBY', KEYS[1], delta)
redis.call('HINCRBY', KEYS[2], 'pending', delta)
redis.call('HINCRBY', KEYS[2], 'seq', delta)
redis.call('HSET', KEYS[2], 'restored', wanted)
redis.call('SADD', KEYS[3], ARGV[1])
return {delta, seq + delta}
"""

# Add to the total whatever part of an outage row it does not hold yet, and raise the floor to the
# highest number shown for a view numbered in the database (ARGV[3]) if the meta is there; -1 if
# there is no total.
MERGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local delta = tonumber(ARGV[1]) - tonumber(redis.call('GET', KEYS[2]) or '0')
if delta > 0 then
  redis.call('INCRBY', KEYS[1], delta)
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
  local floor = tonumber(redis.call('HGET', KEYS[3], 'floor') or '0')
  if floor < tonumber(ARGV[3]) and redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HSET', KEYS[3], 'floor', ARGV[3])
  end
end
return delta
"""

# Raise the meta's ceiling to ARGV[1], the database's, unless Redis lost the meta meanwhile (its
# seed takes the ceiling from the database). Returns the ceiling, or -1.
RAISE_CEILING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ceiling = tonumber(redis.call('HGET', KEYS[1], 'ceiling') or '0')
if ceiling >= tonumber(ARGV[1]) then return ceiling end
redis.call('HSET', KEYS[1], 'ceiling', ARGV[1])
return tonumber(ARGV[1])
"""

# The number a page that does not count shows: {total, floor}, the total nil if it is missing.
READ = """
return {redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], 'floor')}
"""

# Release the flush lock only if this process still holds it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
