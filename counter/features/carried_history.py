"""A history carried over from another service when a counter is created: its views, unique
visitors and bots per day, checked whole before anything is written, then written in the
transaction that creates the counter's row, so that a creation that fails leaves none of it.

Days are bounded, since an export reads every day from a counter's first to today (counter.features.export):
at most MAX_DAYS of them, none more than MAX_DAYS days before today, and none from today, whose
counts are the live ones.
"""

import datetime
import re
from typing import NamedTuple

from counter.features import history
from counter.models import Counter, DailyVisitors

MAX_DAYS = 3660
MAX_COUNT = 10**15
FIELDS = ("day", "views", "visitors", "bots")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidHistory(ValueError):
    """A history that cannot be carried in, saying which entry and field is wrong and why."""


class Day(NamedTuple):
    day: datetime.date
    views: int
    visitors: int
    bots: int


def parse(entries, value):
    """The days of ``entries`` (a creation's "history", None when it has none), for a counter that
    starts at ``value``: raises InvalidHistory unless every entry holds and, for a history of any
    days, ``value`` is at least the sum of their views, which the total counted already."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InvalidHistory('\'history\' must be a list of days, each {"day", "views", "visitors", "bots"}')
    if len(entries) > MAX_DAYS:
        raise InvalidHistory(f"'history' may hold at most {MAX_DAYS} days, not {len(entries)}")
    today = history.today()
    days, seen = [], set()
    for index, entry in enumerate(entries):
        day = parse_day(entry, f"history[{index}]", today)
        if day.day in seen:
            raise InvalidHistory(f"history[{index}].day: {day.day} is in the history more than once")
        seen.add(day.day)
        days.append(day)
    views = sum(day.views for day in days)
    if days and value < views:
        raise InvalidHistory(f"'value' ({value}) is less than the history's views ({views}), which it counts already")
    return days


def parse_day(entry, where, today):
    if not isinstance(entry, dict):
        raise InvalidHistory(f'{where} must be an object {{"day", "views", "visitors", "bots"}}')
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise InvalidHistory(f"{where} has a field '{unknown[0]}': the fields are day, views, visitors and bots")
    day = entry.get("day")
    earliest = today - datetime.timedelta(days=MAX_DAYS)
    try:
        day = datetime.date.fromisoformat(day) if isinstance(day, str) and ISO_DAY.fullmatch(day) else None
    except ValueError:
        day = None
    if day is None or not earliest <= day < today:
        yesterday = today - datetime.timedelta(days=1)
        raise InvalidHistory(
            f"{where}.day must be a date YYYY-MM-DD from {earliest} to {yesterday}: "
            f"before today (UTC), and at most {MAX_DAYS} days before it"
        )
    views, visitors, bots = (count(entry, field, where) for field in FIELDS[1:])
    if visitors > views:
        raise InvalidHistory(f"{where}.visitors ({visitors}) must not be more than its views ({views})")
    return Day(day, views, visitors, bots)


def count(entry, field, where):
    if field == "bots" and field not in entry:
        return 0
    number = entry.get(field)
    if isinstance(number, float) and number.is_integer():
        number = int(number)  # JSON has one kind of number: 5.0 is the whole number 5
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_COUNT:
        raise InvalidHistory(f"{where}.{field} must be a whole number from 0 to 10^15")
    return number


def first_day(days):
    """The first day of a counter created today with ``days``: the earliest of them, or today."""
    return min((day.day for day in days), default=history.today())


def write(series, days):
    """Write the days of a new counter's ``series`` where each is durable: views and bots as the
    engine's Counter rows, visitors as counts of DailyVisitors, leaving out zeros (read as 0).

    Writing the engine's rows directly is exact because the series is brand new: no count of it
    exists anywhere yet, not in Redis either, and Redis reads a name it does not hold from the
    database. Call it inside the transaction that creates the counter's row."""
    counts = [(history.day_name(series, day.day), day.views) for day in days]
    counts += [(history.bots_name(series, day.day), day.bots) for day in days]
    Counter.objects.bulk_create([Counter(name=name, views=views) for name, views in counts if views])
    DailyVisitors.objects.bulk_create(
        [DailyVisitors(name=history.day_name(series, day.day), visitors=day.visitors) for day in days if day.visitors]
    )
