"""Counters anyone can use, named ``namespace/key``: created by a first hit or explicitly.

Each one counts through the same store as the home page (see counter.engine), so everything
that keeps the home page's count durable holds for it too. What a counter shows is the store's
count less an offset, which is how a counter starts from a given value and how it is reset
without touching the counting itself. A counter created explicitly has an admin token; only a
hash of it is stored.
"""

import hashlib
import hmac
import re
import secrets
import time

from django.db import DatabaseError, IntegrityError, transaction

from counter import history, visitors
from counter.engine.base import CounterUnavailable, get_store
from counter.models import NamedCounter

PART = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A reset or a delete reaches every process within this many seconds.
CACHE_SECONDS = 5.0
MAX_START = 10**15


class InvalidName(ValueError):
    """A namespace or key outside [A-Za-z0-9_.-]{1,64}."""


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
        if not isinstance(part, str) or not PART.fullmatch(part):
            raise InvalidName("namespace and key must be 1 to 64 of the characters A-Z a-z 0-9 _ . -")
    return f"{namespace}/{key}"


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


class Registry:
    """This process's view of the named counters: each row cached for CACHE_SECONDS, so that a
    hit costs the store's one round trip, and a database outage leaves known counters counting."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.rows = {}

    def row(self, name):
        """The counter's row, or None if there is none (both cached)."""
        cached = self.rows.get(name)
        if cached and self.clock() < cached[0]:
            return cached[1]
        try:
            row = NamedCounter.objects.filter(name=name).first()
        except DatabaseError:
            if cached:
                return cached[1]
            raise CounterUnavailable("the database is unreachable") from None
        self.remember(name, row)
        return row

    def remember(self, name, row):
        if len(self.rows) > 10_000:
            self.rows.clear()
        self.rows[name] = (self.clock() + CACHE_SECONDS, row)

    def hit(self, name, request=None):
        """Count a view of ``name``, creating the counter on its first view, and the day's view and
        visitor (the request's, if given). Returns the value shown."""
        row = self.row(name)
        if row is None:
            row = self._create(name, token=None, start=0)
        day = history.today()
        value = get_store().hit(name) - row.offset
        history.record_view(row.series, day)
        if request is not None:
            visitors.record(history.day_name(row.series, day), request, day)
        return value

    def today(self, name):
        """Views and unique visitors of ``name`` today."""
        row = self.existing(name)
        day_name = history.day_name(row.series, history.today())
        return {"views": get_store().get(day_name), "visitors": visitors.count(day_name)}

    def get(self, name):
        return get_store().get(name) - self.existing(name).offset

    def existing(self, name):
        row = self.row(name)
        if row is None:
            raise UnknownCounter(name)
        return row

    def create(self, name, start=0):
        """Create ``name`` starting at ``start``; returns the admin token, shown only this once."""
        token = secrets.token_urlsafe(32)
        self._create(name, token=token, start=start, exists_ok=False)
        return token

    def reset(self, name, token, value=0):
        row = self._authorised(name, token)
        offset = get_store().get(name) - value
        NamedCounter.objects.filter(name=name).update(offset=offset)
        row.offset = offset
        self.remember(name, row)
        return value

    def delete(self, name, token):
        self._authorised(name, token)
        NamedCounter.objects.filter(name=name).delete()
        self.remember(name, None)

    def _authorised(self, name, token):
        self.rows.pop(name, None)  # act on the database's row, not a cached one
        row = self.row(name)
        if row is None:
            raise UnknownCounter(name)
        if not token:
            raise TokenRequired(name)
        if not row.token_hash or not hmac.compare_digest(row.token_hash, token_hash(token)):
            raise WrongToken(name)
        return row

    def _create(self, name, token, start, exists_ok=True):
        # Views a deleted counter of the same name left behind do not count for the new one.
        offset = get_store().get(name) - start
        row = NamedCounter(name=name, offset=offset, token_hash=token_hash(token) if token else "")
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            if not exists_ok:
                raise CounterExists(name) from None
            row = NamedCounter.objects.get(name=name)
        except DatabaseError as error:
            raise CounterUnavailable("the database is unreachable") from error
        self.remember(name, row)
        return row


registry = Registry()
