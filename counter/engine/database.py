"""The database store: each view is one atomic upsert, durable before its number is shown.

The Redis store counts here too while Redis is away. Every write stamps the row's ``updated``,
which is how the Redis store finds the totals changed outside its batches.
"""

import logging
import random
import select
import time

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

from counter.engine.base import CounterStore, CounterUnavailable, View
from counter.models import Counter, RateLimitWindow
from herokuapp import process_state

log = logging.getLogger(__name__)

# A connection that answered this recently, and has heard nothing since, is taken as alive.
ANSWERED_RECENTLY = 1.0
# Windows that ended are deleted by one request in this many.
CLEAN_UP_ONE_IN = 100


@process_state.cache()
def upsert(libpq=False):
    """Add ``views`` to a counter's row, creating it, and return its total: for a Django cursor
    (parameters written %s), or with ``libpq`` for PQexecParams (bytes, parameters written $n)."""
    table = connection.ops.quote_name(Counter._meta.db_table)
    name, views = ("$1", "$2::bigint") if libpq else ("%s", "%s")
    statement = (
        f"INSERT INTO {table} (name, views, updated) VALUES ({name}, {views}, CURRENT_TIMESTAMP) "
        f"ON CONFLICT (name) DO UPDATE SET views = {table}.views + EXCLUDED.views, "
        f"updated = CURRENT_TIMESTAMP RETURNING views"
    )
    return statement.encode() if libpq else statement


def add_views(name, views):
    """Add ``views`` to the counter's durable total in one statement; returns the new total."""
    db = connections[DEFAULT_DB_ALIAS]  # one lookup of this thread's connection, not one per use
    if db.vendor == "postgresql" and not db.in_atomic_block:
        return _through_libpq(db, upsert(libpq=True), [name, str(views)])
    with db.cursor() as cursor:
        cursor.execute(upsert(), [name, views])
        return cursor.fetchone()[0]


def _through_libpq(db, statement, params):
    """The upsert through libpq's PQexecParams on Django's own connection: 38 µs of CPU in-process,
    against 85-90 through Django's and psycopg's cursors. Like a cursor, it opens or checks the
    connection and raises Django's errors; inside a transaction, callers use a cursor."""
    from psycopg import errors, pq  # loaded with Django's PostgreSQL backend already

    with db.wrap_database_errors:
        db.close_if_health_check_failed()
        db.ensure_connection()
        result = db.connection.pgconn.exec_params(statement, [param.encode() for param in params])
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise errors.error_from_result(result)
        return int(result.get_value(0, 0))


class DatabaseStore(CounterStore):
    """Counts in the database with one upsert statement: no read-modify-write race. On PostgreSQL
    it skips Django's health check of the connection (CONN_HEALTH_CHECKS, a query of its own) when
    the connection answered in the last ANSWERED_RECENTLY seconds and has heard nothing since: an
    idle session hears nothing unasked, except that the server is ending it."""

    def view(self, names, limit=None, also=()):
        used = None
        if limit is not None:
            used = self.take(limit)
            if used is not None and used > limit.quota:
                return View(None, used, None)
        db = connections[DEFAULT_DB_ALIAS]
        try:
            if self._still_answering(db):
                db.health_check_done = True
            shown = [add_views(name, 1) for name in names]
        except DatabaseError as error:
            raise CounterUnavailable("the database is unreachable") from error
        db.counter_answered_at = time.monotonic()
        return View(shown, used, None)

    def take(self, window):
        """One upsert of the window's row; None, letting the request through, if the database fails."""
        table, key, number, count = (
            connection.ops.quote_name(name) for name in (RateLimitWindow._meta.db_table, "key", "window", "count")
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} ({key}, {number}, {count}) VALUES (%s, %s, 1) "
                    f"ON CONFLICT ({key}, {number}) DO UPDATE SET {count} = {table}.{count} + 1 RETURNING {count}",
                    [window.key, window.number],
                )
                used = cursor.fetchone()[0]
                if random.randrange(CLEAN_UP_ONE_IN) == 0:  # the limit's windows that ended, all clients'
                    prefix = window.key.split(":", 1)[0] + ":"
                    cursor.execute(
                        f"DELETE FROM {table} WHERE {key} LIKE %s AND {number} < %s", [prefix + "%", window.number]
                    )
            return used
        except DatabaseError as error:
            log.warning("rate limit: the database did not answer, letting the request through: %s", error)
            return None

    def get_many(self, names):
        try:
            found = dict(Counter.objects.filter(name__in=names).values_list("name", "views"))
        except DatabaseError as error:
            raise CounterUnavailable("the database is unreachable") from error
        return {name: found.get(name, 0) for name in names}

    @staticmethod
    def _still_answering(db):
        if db.vendor != "postgresql" or db.connection is None:
            return False  # SQLite's health check costs nothing; a closed connection is opened anew
        if time.monotonic() - getattr(db, "counter_answered_at", -ANSWERED_RECENTLY) >= ANSWERED_RECENTLY:
            return False
        poll = select.poll()
        poll.register(db.connection.fileno(), select.POLLIN)
        return not poll.poll(0)
