"""What one process keeps for itself between requests, and the one rule for dropping it.

Clients and their connections, the counter store, copies of rows, rendered prototypes and
memoised answers are each registered here. All of it is dropped together in a forked child
(gunicorn's workers, whose parent's sockets are not theirs) and whenever a setting changes
(tests), and rebuilt on next use; ``reset()`` is the call tests use.
"""

import functools
import os

from django.core.signals import setting_changed

_resets = []


def on_reset(function):
    """Register ``function``, which drops one piece of this process's state (a decorator)."""
    _resets.append(function)
    return function


def cache(maxsize=None):
    """functools.lru_cache, dropped with the rest of the process's state (a decorator)."""

    def decorate(function):
        cached = functools.lru_cache(maxsize=maxsize)(function)
        on_reset(cached.cache_clear)
        return cached

    return decorate


def reset(**kwargs):
    """Drop everything registered, in the order it was registered."""
    for function in _resets:
        function()


os.register_at_fork(after_in_child=reset)
setting_changed.connect(reset)
