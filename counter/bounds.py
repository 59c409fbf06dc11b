"""The bounds, kept in a counter's database row, that keep the numbers shown from going back.

Redis numbers views fast and the database hears of them a flush interval later, so a number taken
in the database while Redis is unreachable, or a total Redis recreates after losing its data,
could run below numbers Redis showed. ``redis_ceiling`` closes that gap: Redis shows a number past
its copy of the ceiling only once the database's has been raised past it, so every number Redis
showed is at most the database's ceiling. It is raised COUNTER_CEILING_AHEAD seconds of views
ahead (see RedisCounter._views_ahead) once views come within a quarter of that of it (see
RedisCounter._below_ceiling), a write per busy counter and process every three quarters of that
many seconds, and that many views may share a number when Redis stops answering. ``database_shown`` is
the highest number shown for a view numbered in the database. A view numbered in the database
during an outage gets no less than either; the numbers taken in the while after Redis answers
again, no less than the second; and when Redis's state is recreated, or outage views are merged
into it, Redis's own numbers rise to them (see redis_scripts.HIT's floor).
"""

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

from counter import libpq
from counter.models import Counter

# A database that stopped answering holds the page no longer than this while Redis answers.
CEILING_TIMEOUT = 0.5


def _table():
    return connection.ops.quote_name(Counter._meta.db_table)


def _greatest():
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


def raise_ceiling(name, target):
    """Raise the counter's ceiling to ``target`` if it is lower, creating the row if needed. Returns
    the ceiling now. On PostgreSQL, sent through libpq (see counter.libpq) and given
    CEILING_TIMEOUT seconds, after which the connection is dropped."""
    db = connections[DEFAULT_DB_ALIAS]
    for _ in range(2):
        if db.vendor == "postgresql" and not db.in_atomic_block:
            ceiling = libpq.first_value(db, _raise("$1", "$2").encode(), [str(target), name], timeout=CEILING_TIMEOUT)
        else:
            with db.cursor() as cursor:
                cursor.execute(_raise("%s", "%s"), [target, name])
                row = cursor.fetchone()
            ceiling = row and row[0]
        if ceiling is not None:
            return int(ceiling)
        Counter.objects.get_or_create(name=name)
    raise DatabaseError(f"the counter {name!r} has no row to raise its ceiling in")


def _raise(target, name):
    """The ceiling's UPDATE, its parameters written as the caller's driver wants them."""
    return (
        f"UPDATE {_table()} SET redis_ceiling = {_greatest()}(redis_ceiling, {target}) "
        f"WHERE name = {name} RETURNING redis_ceiling"
    )


def number_in_database(name, candidate, above_ceiling):
    """The number for a view numbered in the database: ``candidate``, or the highest number shown
    for a view numbered there if that is higher, and with ``above_ceiling`` (Redis unreachable,
    so what it showed is known only by its ceiling) the ceiling if that is higher still. Records
    it as the highest. Inside the transaction that holds the counter's row."""
    bounds = "database_shown, redis_ceiling" if above_ceiling else "database_shown"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table()} SET database_shown = {_greatest()}({bounds}, %s) "
            "WHERE name = %s RETURNING database_shown",
            [candidate, name],
        )
        return int(cursor.fetchone()[0])


def highest(name):
    """The highest number the row knows may have been shown: the floor of a recreated Redis total."""
    row = Counter.objects.filter(name=name).values_list("redis_ceiling", "database_shown").first()
    return max(row) if row else 0
