"""Where page views are counted. settings.COUNTER_BACKEND names the class in use.

Both backends count each view with one atomic operation, so any number of gunicorn workers and
dynos can count at once without a lost or doubled view. Neither keeps a count in process memory.
"""

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver
from django.utils.module_loading import import_string

from counter.models import Counter
from herokuapp.redis_client import get_redis


class DatabaseCounter:
    """Counts in the database with one upsert statement: no read-modify-write race."""

    def hit(self, name):
        table = connection.ops.quote_name(Counter._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (name, views) VALUES (%s, 1) "
                f"ON CONFLICT (name) DO UPDATE SET views = {table}.views + 1 "
                "RETURNING views",
                [name],
            )
            return cursor.fetchone()[0]

    def get(self, name):
        return Counter.objects.filter(name=name).values_list("views", flat=True).first() or 0


class RedisCounter:
    """Counts in Redis with INCR, which Redis applies atomically."""

    prefix = "herokuapp:counter:"

    def hit(self, name):
        return get_redis().incr(self.prefix + name)

    def get(self, name):
        return int(get_redis().get(self.prefix + name) or 0)


@functools.cache
def get_counter():
    return import_string(settings.COUNTER_BACKEND)()


@receiver(setting_changed)
def _forget_counter(setting, **kwargs):
    if setting == "COUNTER_BACKEND":
        get_counter.cache_clear()
