"""The day the history tests are set on (UTC), and counting views on it; the ``clock`` fixture in
conftest moves it."""

import datetime

from counter import named

DAY = datetime.date(2026, 11, 24)


def hits(name, count):
    for _ in range(count):
        named.hit(name)
