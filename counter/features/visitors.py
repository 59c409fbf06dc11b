"""Unique visitors per counter and day, counted without keeping anyone's address.

A visitor is a hash of the client's address and User-Agent, keyed by a random salt of the day:
within a day the same visitor gives the same hash; across days hashes cannot be linked, and once
the day's salt is deleted nobody can tell whose a hash was. ``name`` is a day of a counter
(counter.features.history.day_name).

With the Redis store, each such day is a HyperLogLog (at most 12 KB, about 0.8 % standard error).
After each of the store's flush rounds the ones that changed are copied to the database, and the
copy merged back in, so a Redis that loses one loses at most one flush interval of visitors. With
the database store, the day's hashes are rows in the database, counted exactly, and folded into a
count when the day is over. Counting visitors is best effort: if its store fails, the view still
counts.
"""

import hashlib
import hmac
import logging
import secrets

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count
from django.dispatch import receiver

from counter.engine.base import flushed
from counter.models import DailySalt, DailyVisitor, DailyVisitors
from herokuapp import process_state
from herokuapp.redis_client import get_redis, registered_script
from herokuapp.router import client_address

log = logging.getLogger(__name__)

PREFIX = "herokuapp:visitors:"
DIRTY = PREFIX + "dirty"
KEEP_IN_REDIS = 3 * 24 * 3600  # past days are read from the database's copy
# Add a visitor; if that changed the HyperLogLog, mark it for the copy after the next flush round.
ADD = """
if redis.call('PFADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
"""
# Merge the database's copy into Redis's HyperLogLog (a union: harmless if already there) and
# return the result, to be copied back.
MERGE_COPY = """
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', 60)
  redis.call('PFMERGE', KEYS[1], KEYS[1], KEYS[2])
  redis.call('DEL', KEYS[2])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {redis.call('GET', KEYS[1]), redis.call('PFCOUNT', KEYS[1])}
"""

# The count of each HyperLogLog KEYS names, in order (0 for one that does not exist).
COUNT_EACH = """
local counts = {}
for i, key in ipairs(KEYS) do counts[i] = redis.call('PFCOUNT', key) end
return counts
"""

_salts = {}
process_state.on_reset(_salts.clear)


def key(name):
    return f"{PREFIX}{name}"


def salt(day):
    """The day's salt, shared by every process through the database; made on the day's first use."""
    if day not in _salts:
        try:
            with transaction.atomic():
                row, created = DailySalt.objects.get_or_create(day=day, defaults={"salt": secrets.token_bytes(32)})
        except IntegrityError:
            row, created = DailySalt.objects.get(day=day), False
        if created:
            forget_past_days(day)
        _salts.clear()
        _salts[day] = bytes(row.salt)
    return _salts[day]


def visitor_of(request, day):
    identity = f"{client_address(request.META)}\n{request.META.get('HTTP_USER_AGENT', '')}".encode()
    return hmac.new(salt(day), identity, hashlib.sha256).hexdigest()[:32]


def record(name, request, day):
    """Count the request's visitor among ``name``'s visitors of ``day``."""
    try:
        visitor = visitor_of(request, day)
        if settings.COUNTER_STORE == "redis":
            _record_in_redis(name, visitor)
        else:
            table = connection.ops.quote_name(DailyVisitor._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (name, visitor) VALUES (%s, %s) ON CONFLICT (name, visitor) DO NOTHING",
                    [name, visitor],
                )
    except DatabaseError as error:
        log.warning("a view was counted but not its visitor: %s", error)


def command(name, request, day):
    """The Redis command that counts the request's visitor among ``name``'s visitors of ``day``, for
    the counter store to send with the view (see CounterStore.view); None with the database store,
    or if the day's salt cannot be read (record() then tries again, and logs)."""
    if settings.COUNTER_STORE != "redis":
        return None
    try:
        visitor = visitor_of(request, day)
    except DatabaseError:
        return None
    return registered_script(get_redis(), ADD).command([key(name), DIRTY], [visitor, name, KEEP_IN_REDIS])


def _record_in_redis(name, visitor):
    import redis  # loaded only with the Redis store (see herokuapp.redis_client)

    try:
        registered_script(get_redis(), ADD)(keys=[key(name), DIRTY], args=[visitor, name, KEEP_IN_REDIS])
    except redis.RedisError as error:
        log.warning("a view was counted but not its visitor: %s", error)


def count(name):
    """Visitors of ``name`` (a day of a counter); 0 if its store cannot say."""
    return counts([name])[name]


def counts(names):
    """{name: visitors} for days of counters, however many, in two database queries, or one query
    and one Redis call; 0 where the store cannot say."""
    try:
        copies = dict(DailyVisitors.objects.filter(name__in=names).values_list("name", "visitors"))
        if settings.COUNTER_STORE == "redis":
            import redis

            try:
                counted = registered_script(get_redis(), COUNT_EACH)(keys=[key(name) for name in names])
            except redis.RedisError:
                counted = [0] * len(names)
            return {name: max(copies.get(name, 0), visitors) for name, visitors in zip(names, counted, strict=True)}
        # Today's rows, and those a late view left after its day was folded into a count.
        rows = DailyVisitor.objects.filter(name__in=names).values("name").annotate(visitors=Count("visitor"))
        unfolded = {row["name"]: row["visitors"] for row in rows}
        return {name: copies.get(name, 0) + unfolded.get(name, 0) for name in names}
    except DatabaseError:
        return dict.fromkeys(names, 0)


@receiver(flushed)
def flush(client, **kwargs):
    """Copy the HyperLogLogs that changed to the database, merging the database's copy in first,
    after each of the counter store's flush rounds. Returns how many it copied."""
    import redis

    names = [name.decode() for name in client.spop(DIRTY, 10_000) or []]
    try:
        for name in names:
            copy = DailyVisitors.objects.filter(name=name).values_list("registers", flat=True).first()
            registers, visitors = registered_script(client, MERGE_COPY)(
                keys=[key(name), key(name) + ":copy"],
                args=[bytes(copy or b""), KEEP_IN_REDIS],
            )
            if registers is not None:
                DailyVisitors.objects.update_or_create(
                    name=name, defaults={"visitors": visitors, "registers": registers}
                )
    except (redis.RedisError, DatabaseError):
        client.sadd(DIRTY, *names)  # copied next round
        raise
    return len(names)


def forget_past_days(today):
    """Delete past days' salts, and fold past days' visitor rows into counts."""
    DailySalt.objects.filter(day__lt=today).delete()
    today_suffix = f"@{today.isoformat()}"
    past = DailyVisitor.objects.exclude(name__endswith=today_suffix).values("name").annotate(visitors=Count("visitor"))
    for row in past:
        with transaction.atomic():
            DailyVisitors.objects.update_or_create(name=row["name"], defaults={"visitors": row["visitors"]})
            DailyVisitor.objects.filter(name=row["name"]).delete()
