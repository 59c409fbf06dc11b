"""Counters anyone can use, named ``namespace/key``: created by a first hit or explicitly.

Each one counts through the same store as the home page (see counter.engine), so everything
that keeps the home page's count durable holds for it too. What a counter shows is the store's
count less an offset, which is how a counter starts from a given value and how it is reset
without touching the counting itself. A counter created explicitly has an admin token; only a
hash of it is stored. A known crawler's request (counter.features.bots) is shown the count without adding
to it, and counted as one of the day's bots.

A create, reset or delete is seen by every process and dyno as soon as it has answered. With the
database store, every request reads the counter's row. With Redis, a view is one round trip: each
process keeps a copy of the rows it serves, and Redis keeps a stamp of each row's current settings
(its series and offset), read in the view's round trip. A view counts with the copy's series; if the
stamp differs, the process reads the row, shows its number and counts the day again if the series
changed. A writer sets the stamp once its change is committed; a process that finds none reads the
row and sets it unless one was set meanwhile. A stamp lives STAMP_SECONDS, which bounds how long a
stamp Redis lost and got back (a failover, an older snapshot, a writer's failed call) can leave a
process showing an old offset; the counting itself never depends on it. With the database away,
named counters answer 503 unless the stamp vouches for the process's copy.
"""

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction

from counter.engine.base import CounterUnavailable, get_store
from counter.features import bots, carried_history, history, visitors
from counter.models import NamedCounter
from herokuapp import process_state

log = logging.getLogger(__name__)

PART = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# URLs normalise these segments away, so no badge, page or API link could reach such a counter.
DOT_SEGMENTS = (".", "..")
MAX_START = 10**15
STAMPS = "herokuapp:named:"
STAMP_SECONDS = 60
DELETED = b"deleted"
COPIES_KEPT = 10_000


class InvalidName(ValueError):
    """A namespace or key outside [A-Za-z0-9_.-]{1,64}, or one that is "." or ".."."""


class UnknownCounter(LookupError):
    pass


class CounterExists(Exception):
    pass


class TokenRequired(PermissionError):
    """No token was given."""


class WrongToken(PermissionError):
    """A token was given, but it is not this counter's (or the counter has none)."""


def counter_name(namespace, key):
    for part in (namespace, key):
        if not isinstance(part, str) or not PART.fullmatch(part) or part in DOT_SEGMENTS:
            raise InvalidName(
                'namespace and key must be 1 to 64 of the characters A-Z a-z 0-9 _ . -, and not "." or ".."'
            )
    return f"{namespace}/{key}"


ROW_FIELDS = ["name", "offset", "token_hash", "series"]


@process_state.cache()
def row_query():
    quote = connection.ops.quote_name
    columns = ", ".join(quote(NamedCounter._meta.get_field(field).column) for field in ROW_FIELDS)
    return f"SELECT {columns} FROM {quote(NamedCounter._meta.db_table)} WHERE {quote('name')} = %s"


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def find(name):
    """The counter's row, or None if there is none. Its statement is written once: building it
    through the ORM for every request cost three times the CPU of running it (0.58 against
    0.18 ms), a quarter of a hit's."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(row_query(), [name])
            found = cursor.fetchone()
    except DatabaseError:
        raise CounterUnavailable("the database is unreachable") from None
    return found and NamedCounter.from_db(connection.alias, ROW_FIELDS, found)


@dataclass(frozen=True)
class Hit:
    """A view of a named counter: the number it shows (None if ``limit`` refused the view), its views
    today, and the requests the limit's window holds (None without a limit)."""

    value: int | None
    today: int | None
    used: int | None


# This process's copies of rows, each checked against its stamp before use.
_copies = {}
process_state.on_reset(_copies.clear)


def hit(name, request=None, before_creating=None, limit=None):
    """Count a view of ``name``, creating the counter on its first view, and the day's view and
    visitor (the request's, if given), in one round trip to Redis. ``before_creating`` is called
    before a counter is created, and may refuse by raising; ``limit``, a rate limit's window,
    refuses the view beyond its quota. A known crawler's request counts as a bot instead (bot_hit)."""
    if request is not None and bots.uncounted(request.META):
        return bot_hit(name, before_creating, limit)
    stamped = settings.COUNTER_STORE == "redis"
    copy = _copies.get(name) if stamped else None
    row = copy or _row_for_view(name, before_creating)
    day = history.today()
    day_name = history.day_name(row.series, day)
    visitor = visitors.command(day_name, request, day) if request is not None else None
    also = [("GET", STAMPS + name)] if stamped else []
    view = get_store().view([name, day_name], limit, [*also, visitor] if visitor else also)
    if view.shown is None:
        return Hit(None, None, view.used)
    total, today = view.shown
    replies = view.replies or [None, None]
    visitor_counted = visitor is not None and view.replies is not None and not isinstance(replies[-1], Exception)
    if stamped and replies[0] != stamp(row):
        if copy is not None:  # a copy the stamp does not vouch for: the row as it is now
            row = _row_for_view(name, before_creating, counted=True)
            if row.series != copy.series:  # deleted and created again: the day is the new series'
                day_name = history.day_name(row.series, day)
                today = history.record_view(row.series, day)
                visitor_counted = False
        if view.replies is not None and replies[0] is None:
            _set_stamp(row, only_if_none=True)
    if request is not None and not visitor_counted:
        visitors.record(day_name, request, day)
    if stamped:
        if len(_copies) >= COPIES_KEPT:
            _copies.clear()
        _copies[name] = row
    return Hit(total - row.offset, today, view.used)


def _row_for_view(name, before_creating, counted=False):
    """The counter's row, created if there is none (``counted``: its first view is counted already)."""
    row = find(name)
    if row is None:
        if before_creating is not None:
            before_creating()
        row = _create(name, token=None, start=1 if counted else 0)
    return row


def stamp(row):
    """What Redis holds while ``row`` is current: its series and offset, the settings a view uses."""
    return f"{row.series}:{row.offset}".encode()


def _set_stamp(row, only_if_none=False, value=None):
    """Set the stamp of ``row``'s counter in Redis (a writer after its commit; a reader only where
    there is none). Redis away is logged: the stamp's lifetime bounds what it costs."""
    if settings.COUNTER_STORE != "redis":
        return
    import redis

    from herokuapp.redis_client import get_redis

    try:
        get_redis().set(STAMPS + row.name, value or stamp(row), ex=STAMP_SECONDS, nx=only_if_none)
    except redis.RedisError as error:
        log.warning("could not stamp the counter %s in Redis: %s", row.name, error)


def bot_hit(name, before_creating=None, limit=None):
    """Count a known crawler's request on ``name`` as one of the day's bots, not as a view or a
    visitor, under ``limit`` as a view is. A counter that does not exist yet is created, at 0, as
    by a first view: a badge a crawler fetches first shows 0 rather than an error, and the counter
    counts its first reader."""
    used = get_store().take(limit) if limit is not None else None
    if used is not None and used > limit.quota:
        return Hit(None, None, used)
    row = _row_for_view(name, before_creating)
    history.record_bot(row.series, history.today())
    return Hit(shown(row), None, used)


def today(name):
    """Views, unique visitors and bots of ``name`` today."""
    return _today(existing(name))


def read(name):
    """The value ``name`` shows and its counts today (as today gives them), from one read of its row."""
    row = existing(name)
    return shown(row), _today(row)


def _today(row):
    day = history.today()
    day_name, bots_name = history.day_name(row.series, day), history.bots_name(row.series, day)
    counts = get_store().get_many([day_name, bots_name])
    return {"views": counts[day_name], "visitors": visitors.count(day_name), "bots": counts[bots_name]}


def get(name):
    return shown(existing(name))


def shown(row):
    """The value the counter of ``row`` shows."""
    return get_store().get(row.name) - row.offset


def existing(name):
    row = find(name)
    if row is None:
        raise UnknownCounter(name)
    return row


def create(name, start=0, before_creating=None, days=()):
    """Create ``name`` starting at ``start``, with ``days`` of history carried over from another
    service (carried_history.parse) written with its row; returns the admin token, shown only this once.
    ``before_creating`` is called once the name is known to be free, and may refuse by raising."""
    if find(name) is not None:
        raise CounterExists(name)
    if before_creating is not None:
        before_creating()
    token = secrets.token_urlsafe(32)
    _create(name, token=token, start=start, exists_ok=False, days=days)
    return token


def reset(name, token, value=0):
    row = _authorised(name, token)
    row.offset = get_store().get(name) - value
    NamedCounter.objects.filter(name=name).update(offset=row.offset)
    _set_stamp(row)
    return value


def delete(name, token):
    row = _authorised(name, token)
    NamedCounter.objects.filter(name=name).delete()
    _set_stamp(row, value=DELETED)


def _authorised(name, token):
    row = find(name)
    if row is None:
        raise UnknownCounter(name)
    if not token:
        raise TokenRequired(name)
    if not row.token_hash or not hmac.compare_digest(row.token_hash, token_hash(token)):
        raise WrongToken(name)
    return row


def _create(name, token, start, exists_ok=True, days=()):
    # Views a deleted counter of the same name left behind do not count for the new one.
    offset = get_store().get(name) - start
    row = NamedCounter(
        name=name,
        offset=offset,
        token_hash=token_hash(token) if token else "",
        first_day=carried_history.first_day(days),
    )
    try:
        with transaction.atomic():
            carried_history.write(row.series, days)
            row.save(force_insert=True)
    except IntegrityError:
        if not exists_ok:
            raise CounterExists(name) from None
        return NamedCounter.objects.get(name=name)
    except DatabaseError as error:
        raise CounterUnavailable("the database is unreachable") from error
    _set_stamp(row)
    return row
