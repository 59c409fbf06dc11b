"""Per-client limits on the counter API, counted where every process sees the same numbers.

A limit allows a quota of requests per fixed window (a minute, an hour). The count lives where
settings.COUNTER_STORE keeps every count: in Redis (one script: increment, and expire with the
window) or in the database (one upsert), so the limit holds across workers and dynos. While Redis
does not answer, the database counts; if neither answers, the request is let through: a limit
must not take the API down with its store. Clients are known by the address Heroku's router
appended to X-Forwarded-For, kept only as a keyed hash.
"""

import hashlib
import hmac
import logging
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection

from counter.models import RateLimitWindow
from herokuapp.redis_client import get_redis, registered_script
from herokuapp.router import client_network

log = logging.getLogger(__name__)

PREFIX = "herokuapp:rate-limit:"
# INCR the window's count; give a new key the window's lifetime. Returns the count.
TAKE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""
CLEAN_UP_ONE_IN = 100


@dataclass(frozen=True)
class Limit:
    name: str
    setting: str
    window: int  # seconds

    @property
    def quota(self):
        return getattr(settings, self.setting)


API_REQUESTS = Limit("api", "COUNTER_API_REQUESTS_PER_MINUTE", 60)
CREATIONS = Limit("create", "COUNTER_CREATIONS_PER_HOUR", 3600)
STATS = Limit("stats", "COUNTER_STATS_REQUESTS_PER_MINUTE", 60)


@dataclass(frozen=True)
class Decision:
    limit: Limit
    count: int
    reset: int  # seconds until the window ends

    @property
    def allowed(self):
        return self.count <= self.limit.quota

    def headers(self):
        """The RateLimit and RateLimit-Policy fields of the IETF httpapi draft, and Retry-After when refused."""
        headers = {
            "RateLimit-Policy": f'"{self.limit.name}";q={self.limit.quota};w={self.limit.window}',
            "RateLimit": f'"{self.limit.name}";r={max(0, self.limit.quota - self.count)};t={self.reset}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


def client_of(request):
    """A keyed hash of the client's network as Heroku's router gave it (see client_network)."""
    address = client_network(request.META)
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def refuses_new_counter(request):
    """The creation limit's refusal if the client has made its hour's share of new counters, else
    None. Called only when a counter is about to be created: counting on one costs no allowance."""
    decision = take(CREATIONS, client_of(request))
    return None if decision.allowed else decision


def take(limit, client, now=None):
    """Count one request of ``client`` against ``limit`` and say whether it is allowed."""
    now = time.time() if now is None else now
    window = int(now // limit.window)
    reset = max(1, int((window + 1) * limit.window - now + 0.999))
    key = f"{limit.name}:{client}"
    count = _count_in_redis(key, window, limit.window) if settings.COUNTER_STORE == "redis" else None
    if count is None:
        count = _count_in_database(key, window)
    return Decision(limit, count if count is not None else 0, reset)


def _count_in_redis(key, window, seconds):
    import redis  # loaded only with the Redis store (see herokuapp.redis_client)

    try:
        return registered_script(get_redis(), TAKE)(keys=[f"{PREFIX}{key}:{window}"], args=[seconds * 1000])
    except redis.RedisError as error:
        log.warning("rate limit: Redis did not answer, counting in the database: %s", error)
        return None


def _count_in_database(key, window):
    table, key_column, window_column, count_column = (
        connection.ops.quote_name(name) for name in (RateLimitWindow._meta.db_table, "key", "window", "count")
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({key_column}, {window_column}, {count_column}) VALUES (%s, %s, 1) "
                f"ON CONFLICT ({key_column}, {window_column}) "
                f"DO UPDATE SET {count_column} = {table}.{count_column} + 1 RETURNING {count_column}",
                [key, window],
            )
            count = cursor.fetchone()[0]
        if random.randrange(CLEAN_UP_ONE_IN) == 0:
            RateLimitWindow.objects.filter(key__startswith=key.split(":", 1)[0] + ":", window__lt=window).delete()
        return count
    except DatabaseError as error:
        log.warning("rate limit: the database did not answer, letting the request through: %s", error)
        return None
