"""The Redis store's keys and the Lua scripts that change them atomically (see docs/counting.md):
per counter a hash ``count:<name>`` of ``base``, ``pending`` and ``inflight`` (their sum is shown),
the names with pending views, the batch in flight, the ``instance`` hash, and per sender the
number of its last view counted."""

PREFIX = "herokuapp:counter:"
INSTANCE = PREFIX + "instance"
DIRTY = PREFIX + "dirty"
BATCH = PREFIX + "batch"
COUNTS = PREFIX + "count:"
# A sender's last number is kept longer than a view waits to be sent again (UNCERTAIN_KEPT).
SENDER_SECONDS = 24 * 3600
# What a script returns on a server not reconciled since it started, or emptied though it kept
# the scripts: nothing counts there before it is reconciled.
NO_INSTANCE = -3


# Windows of limits on requests (see CounterStore.take).
WINDOWS = "herokuapp:rate-limit:"


def count(name):
    return COUNTS + name


def sender(sender_id):
    return f"{PREFIX}sender:{sender_id}"


# Count a view from sender KEYS[3] numbered ARGV[1], on instance ARGV[2] (-2 on another), in each
# counter KEYS[5..] names (their names ARGV[6..]), unless that sender's views up to it counted
# already. If KEYS[4] is not empty it is a limit's window: the view is first counted there (a new
# window lives ARGV[5] ms) and, beyond ARGV[4] in it, not counted at all. Returns {the window's
# count or nil, the number each counter shows} ({count} alone if refused), -1 if a counter has no
# base here yet, or NO_INSTANCE. A name with views pending is in the dirty set KEYS[2].
HIT = """
local id = redis.call('HGET', KEYS[1], 'id')
if not id then return -3 end
if id ~= ARGV[2] then return -2 end
local counters = {}
for i = 5, #KEYS do
  counters[i] = redis.call('HMGET', KEYS[i], 'base', 'pending', 'inflight')
  if not counters[i][1] then return -1 end
end
local used = false
if KEYS[4] ~= '' then
  used = redis.call('INCR', KEYS[4])
  if used == 1 then redis.call('PEXPIRE', KEYS[4], ARGV[5]) end
  if used > tonumber(ARGV[4]) then return {used} end
end
local last = redis.call('GET', KEYS[3])
local new = not last or tonumber(last) < tonumber(ARGV[1])
if new then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[3]) end
local shown = {used}
for i = 5, #KEYS do
  local c = counters[i]
  local pending = tonumber(c[2] or '0')
  if new then
    pending = redis.call('HINCRBY', KEYS[i], 'pending', 1)
    if pending == 1 then redis.call('SADD', KEYS[2], ARGV[i + 1]) end
  end
  shown[i - 3] = tonumber(c[1]) + pending + tonumber(c[3] or '0')
end
return shown
"""

# Count a request in the window KEYS[1], which a new window makes live ARGV[1] ms. Returns the count.
WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""

# The number each counter KEYS names shows, in order: nil for one with no base here yet.
SHOWN = """
local shown = {}
for i, key in ipairs(KEYS) do
  local c = redis.call('HMGET', key, 'base', 'pending', 'inflight')
  shown[i] = c[1] and tonumber(c[1]) + tonumber(c[2] or '0') + tonumber(c[3] or '0') or false
end
return shown
"""

# Take back view ARGV[1] of sender KEYS[3], whose page was refused, on instance ARGV[2] only: if it
# counted, one view less is pending in each counter KEYS[4..] names (their names ARGV[4..]); if
# not, it never will (its sender's number moves past it).
CANCEL = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[2] then return -2 end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[1]) then
  for i = 4, #KEYS do
    redis.call('HINCRBY', KEYS[i], 'pending', -1)
    redis.call('SADD', KEYS[2], ARGV[i])
  end
  return 1
end
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[3])
return 0
"""

# The batch in flight, or a new one of every pending view. Returns {id, epoch, its number or nil,
# refreshed or nil, {name, views, ...}}, or NO_INSTANCE if the server (run id ARGV[2]) was not
# reconciled since it started.
TAKE = """
local state = redis.call('HMGET', KEYS[1], 'id', 'epoch', 'inflight', 'refreshed', 'run_id')
if not state[1] or state[5] ~= ARGV[2] then return -3 end
local seq = state[3]
if not seq then
  local names = redis.call('SMEMBERS', KEYS[2])
  if #names > 0 then
    seq = redis.call('HINCRBY', KEYS[1], 'batch', 1)
    for _, name in ipairs(names) do
      local key = ARGV[1] .. name
      local pending = tonumber(redis.call('HGET', key, 'pending') or '0')
      if pending ~= 0 then
        redis.call('HSET', key, 'pending', 0, 'inflight', pending)
        redis.call('HSET', KEYS[3], name, pending)
      end
    end
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'inflight', seq)
  end
end
return {state[1], state[2] or '0', seq, state[4], redis.call('HGETALL', KEYS[3])}
"""

# On instance ARGV[1] in epoch ARGV[2], whose batches the database holds up to ARGV[3]: if that
# includes the one in flight, its views move into their bases. Then, if no other batch is in
# flight, each base ARGV[6..] names rises to its durable total (name, total pairs), and
# ``refreshed`` becomes ARGV[4]. Returns 0, changing no base, if the totals were read before the
# last batch completed, or for another instance or epoch.
SETTLE = """
local state = redis.call('HMGET', KEYS[1], 'id', 'epoch', 'batch', 'inflight')
if state[1] ~= ARGV[1] or (state[2] or '0') ~= ARGV[2] then return 0 end
local taken = tonumber(ARGV[3])
if state[4] and tonumber(state[4]) == taken then
  for _, name in ipairs(redis.call('HKEYS', KEYS[2])) do
    local key = ARGV[5] .. name
    redis.call('HINCRBY', key, 'base', redis.call('HGET', key, 'inflight') or 0)
    redis.call('HSET', key, 'inflight', 0)
  end
  redis.call('DEL', KEYS[2])
  redis.call('HDEL', KEYS[1], 'inflight')
  state[4] = false
end
if tonumber(state[3] or '0') - (state[4] and 1 or 0) ~= taken then return 0 end
for i = 6, #ARGV, 2 do
  local key = ARGV[5] .. ARGV[i]
  local base = redis.call('HGET', key, 'base')
  if base and tonumber(base) < tonumber(ARGV[i + 1]) then redis.call('HSET', key, 'base', ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'refreshed', ARGV[4])
return 1
"""

# Reconcile instance ARGV[1], still in epoch ARGV[2] and not yet on server ARGV[7], with the
# database, which has its batches up to ARGV[3]: numbered below that, its data is older, so every
# key goes and it starts as instance ARGV[5] (2); otherwise it enters epoch ARGV[4] (1). Else 0.
RECONCILE = """
local state = redis.call('HMGET', KEYS[1], 'id', 'epoch', 'batch', 'run_id')
if state[1] ~= ARGV[1] or (state[2] or '0') ~= ARGV[2] or state[4] == ARGV[7] then return 0 end
if tonumber(state[3] or '0') >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[4], 'run_id', ARGV[7])
  return 1
end
local cursor = '0'
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ARGV[6], 'COUNT', 1000)
  cursor = found[1]
  if #found[2] > 0 then redis.call('DEL', unpack(found[2])) end
until cursor == '0'
redis.call('HSET', KEYS[1], 'id', ARGV[5], 'batch', 0, 'run_id', ARGV[7])
return 2
"""


def for_database(database):
    """{script: its text in database ``database``}: a comment gives each database of a server texts
    (SHAs) of its own, so that scripts load per database, and NOSCRIPT shows a restart in each."""
    return {source: f"-- database {database}\n{source}" for source in (HIT, CANCEL, TAKE, SETTLE)}
