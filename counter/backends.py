"""Where page views are counted. settings.COUNTER_BACKEND names the class in use.

DatabaseCounter counts each view with one atomic upsert. counter.redis_counter.RedisCounter
counts in Redis and keeps the database as the durable record; it lives in a module of its own, so
that redis-py is imported only where REDIS_URL is set. Neither keeps a count in process memory.
"""

import functools
import select
import time

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.dispatch import receiver
from django.utils.module_loading import import_string

from counter import libpq
from counter.models import Counter


class CounterUnavailable(Exception):
    """No store that can count is reachable; the page answers 503 and the dyno retries later."""


# A connection that answered this thread's last upsert this recently, and has heard nothing from
# the server since, is taken as alive.
ANSWERED_RECENTLY = 1.0


@functools.cache
def upsert(libpq=False):
    """The counter's upsert, for a Django cursor (its parameter written %s), or with ``libpq`` for
    PQexecParams (bytes, its parameter written $1)."""
    table = connection.ops.quote_name(Counter._meta.db_table)
    statement = (
        f"INSERT INTO {table} (name, views) VALUES ({'$1' if libpq else '%s'}, 1) "
        f"ON CONFLICT (name) DO UPDATE SET views = {table}.views + 1 RETURNING views"
    )
    return statement.encode() if libpq else statement


class DatabaseCounter:
    """Counts in the database with one upsert statement: no read-modify-write race.

    On PostgreSQL, Django checks a persistent connection with a query of its own at the start of
    each request (CONN_HEALTH_CHECKS), which doubles the page's round trips to the database. The
    counter skips that check on a connection that answered it less than ANSWERED_RECENTLY seconds
    ago and on which the server has sent nothing since: an idle session hears nothing unasked,
    except that it is being ended (a restart, a failover, a terminated backend). Under traffic the
    page then costs one round trip, and a connection idle for longer, or ended by the server, is
    still checked and replaced before the view counts.

    On PostgreSQL the upsert is also sent through psycopg's libpq interface rather than a cursor
    (see _upsert_through_libpq).
    """

    def hit(self, name):
        db = connections[DEFAULT_DB_ALIAS]  # one lookup of this thread's connection, not one per use
        try:
            if self._still_answering(db):
                db.health_check_done = True
            if db.vendor == "postgresql" and not db.in_atomic_block:
                views = self._upsert_through_libpq(db, name)
            else:
                with db.cursor() as cursor:
                    cursor.execute(upsert(), [name])
                    views = cursor.fetchone()[0]
        except DatabaseError as error:
            raise CounterUnavailable("the database is unreachable") from error
        db.counter_answered_at = time.monotonic()
        return views

    @staticmethod
    def _upsert_through_libpq(db, name):
        """The upsert sent through libpq rather than a cursor (see counter.libpq): in-process the
        view's upsert went from 85-90 µs of CPU through Django's and psycopg's cursors to 38."""
        return int(libpq.first_value(db, upsert(libpq=True), [name]))

    @staticmethod
    def _still_answering(db):
        if db.vendor != "postgresql" or db.connection is None:
            return False  # SQLite's health check costs nothing; a closed connection is opened anew
        if time.monotonic() - getattr(db, "counter_answered_at", -ANSWERED_RECENTLY) >= ANSWERED_RECENTLY:
            return False
        poll = select.poll()
        poll.register(db.connection.fileno(), select.POLLIN)
        return not poll.poll(0)

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
