"""The contract every counter store keeps, and the one store this process counts with: the one
settings.COUNTER_STORE names (see docs/counting.md). Only its module is imported, so an app
without Redis never loads redis-py."""

import os
import threading
from dataclasses import dataclass

from django.conf import settings
from django.dispatch import Signal
from django.utils.module_loading import import_string

from herokuapp import process_state

STORES = {"database": "counter.engine.database.DatabaseStore", "redis": "counter.engine.redis_store.RedisStore"}

# Sent after each round of the Redis store with its ``client``: visitor counts flush on that beat.
flushed = Signal()


class CounterUnavailable(Exception):
    """No store that can count is reachable: the page answers a 503 and the client retries."""


@dataclass(frozen=True)
class Window:
    """A limit on requests: at most ``quota`` in the window ``key`` and ``number`` name, which lasts
    ``seconds``."""

    key: str
    number: int
    quota: int
    seconds: int


@dataclass(frozen=True)
class View:
    """What counting a view gave: the number each counter shows (None if its limit refused it), the
    requests its limit's window holds (None without a limit, or if nothing could count them), and
    the replies to the commands sent along with it (None if they were not sent)."""

    shown: list | None
    used: int | None
    replies: list | None


class CounterStore:
    """What a store provides. ``view`` counts one view in each of ``names`` (a counter and its day,
    say) and returns a View; ``limit``, a Window, first counts the request there and refuses the
    view beyond its quota; ``also`` holds other Redis commands to send in the same round trip,
    whose replies come back (an error reply as its exception; a store without Redis sends none).
    ``get_many`` returns {name: the number it shows} without counting, in as few round trips for
    many names as for one. Both raise CounterUnavailable when nothing can count. ``take`` counts a
    request in a window and returns how many it holds, or None if nothing can count it. A store
    holding views outside the database moves them there in ``flush`` (returning how many), in the
    background from ``start`` (each worker, after gunicorn's fork) and on ``stop``."""

    def view(self, names, limit=None, also=()):
        raise NotImplementedError

    def hit(self, name):
        return self.view([name]).shown[0]

    def get_many(self, names):
        raise NotImplementedError

    def get(self, name):
        return self.get_many([name])[name]

    def take(self, window):
        raise NotImplementedError

    def start(self):
        pass

    def flush(self):
        return 0

    def stop(self):
        pass


_store = None
_made_by = None  # the id of the process that made _store
_lock = threading.Lock()


def get_store():
    """The store settings.COUNTER_STORE names, created on first use in this process."""
    global _store, _made_by
    with _lock:
        if _store is None:
            _store, _made_by = import_string(STORES[settings.COUNTER_STORE])(), os.getpid()
        return _store


def stop_store():
    """Stop this process's store, if it made one: its pending views are flushed."""
    global _store
    with _lock:
        store, _store = _store, None
    if store is not None:
        store.stop()


@process_state.on_reset
def _forget_store():
    """Stop this process's store; a forked child only drops its parent's, whose flusher thread and
    connections it does not have (nor the lock, if a parent's thread held it at the fork)."""
    global _store, _lock
    if _made_by == os.getpid():
        stop_store()
    elif _store is not None:
        _store, _lock = None, threading.Lock()
