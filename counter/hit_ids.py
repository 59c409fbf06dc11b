"""Ids for views sent to Redis, so that a view whose reply was lost can be looked for among the
hits Redis counted (see counter.flusher.settleable_hits).

Each is a random 64-bit prefix drawn once per process, drawn again in a forked child, and a number
that counts up: unique across processes and dynos, and far cheaper per view than uuid4, which reads
the system's random source every time. Written as 32 hex digits, a valid UUID for the database.
"""

import itertools
import os
import secrets


def _draw():
    global _prefix, _numbers
    _prefix = secrets.token_hex(8)
    _numbers = itertools.count()


def new():
    return f"{_prefix}{next(_numbers):016x}"


_draw()
os.register_at_fork(after_in_child=_draw)
