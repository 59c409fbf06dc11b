"""Where page views are counted. settings.COUNTER_BACKEND names the class in use.

DatabaseCounter counts each view with one atomic upsert. counter.redis_counter.RedisCounter
counts in Redis and keeps the database as the durable record; it lives in a module of its own, so
that redis-py is imported only where REDIS_URL is set. Neither keeps a count in process memory.
"""

import functools
import time

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, connection
from django.dispatch import receiver
from django.utils.module_loading import import_string

from counter.models import Counter


class CounterUnavailable(Exception):
    """No store that can count is reachable; the page answers 503 and the dyno retries later."""


# A connection that answered this thread's last upsert this recently is taken as alive.
ANSWERED_RECENTLY = 1.0


class DatabaseCounter:
    """Counts in the database with one upsert statement: no read-modify-write race.

    Django checks a persistent connection with a query of its own at the start of each request
    (CONN_HEALTH_CHECKS), which doubles the page's round trips to the database. A connection that
    answered an upsert less than ANSWERED_RECENTLY seconds ago skips that check: under traffic the
    page costs one round trip, and a connection idle for longer is still checked. The price is that
    a connection the database dropped within that second fails one view (a 503) before Django
    replaces it.
    """

    def hit(self, name):
        table = connection.ops.quote_name(Counter._meta.db_table)
        try:
            if time.monotonic() - getattr(connection, "counter_answered_at", -ANSWERED_RECENTLY) < ANSWERED_RECENTLY:
                connection.health_check_done = True
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (name, views) VALUES (%s, 1) "
                    f"ON CONFLICT (name) DO UPDATE SET views = {table}.views + 1 "
                    "RETURNING views",
                    [name],
                )
                views = cursor.fetchone()[0]
        except DatabaseError as error:
            raise CounterUnavailable("the database is unreachable") from error
        connection.counter_answered_at = time.monotonic()
        return views

    def get(self, name):
        try:
            return Counter.objects.filter(name=name).values_list("views", flat=True).first() or 0
        except DatabaseError as error:
            raise CounterUnavailable("the database is unreachable") from error


@functools.cache
def get_counter():
    return import_string(settings.COUNTER_BACKEND)()


@receiver(setting_changed)
def _forget_counter(setting, **kwargs):
    if setting in {"COUNTER_BACKEND", "REDIS_URL", "COUNTER_FLUSH_INTERVAL"}:
        get_counter.cache_clear()
