"""Views per day of each named counter, kept as durably as the counts themselves, and the known
crawlers' requests (counter.features.bots) per day, which are not views.

A day's views are a counter of their own, named from the counter's series and the date (UTC),
counted through the same store as every other count: with Redis they reach the database in the
flusher's batches, survive Redis outages and restarts, and are counted exactly once. A view is
counted in its counter first; if its day cannot be counted, the total stays right and the day
misses that view. A day's bots are a counter of the same kind (bots_name).
"""

import datetime
import logging

from counter.engine.base import CounterUnavailable, get_store
from counter.features import visitors

log = logging.getLogger(__name__)

DAYS_SHOWN = 30


def today():
    return datetime.datetime.now(datetime.UTC).date()


def day_name(series, day):
    return f"{series}@{day.isoformat()}"


def bots_name(series, day):
    return day_name(series, day) + ":bots"


def record_view(series, day):
    """Count a view on ``day``; returns the day's views, or None if it could not be counted."""
    try:
        return get_store().hit(day_name(series, day))
    except CounterUnavailable as error:
        log.warning("a view was counted but its day was not: %s", error)
        return None


def record_bot(series, day):
    """Count a known crawler's request (counter.features.bots) on the day; if it cannot be, it is not counted."""
    try:
        get_store().hit(bots_name(series, day))
    except CounterUnavailable as error:
        log.warning("a bot's request was not counted on its day: %s", error)


def last_days(days=DAYS_SHOWN):
    """The last ``days`` days, oldest first, today included."""
    last = today()
    return [last - datetime.timedelta(days=back) for back in range(days - 1, -1, -1)]


def days_since(first):
    """Every day from ``first`` to today, oldest first; today alone if ``first`` is later."""
    last = today()
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)] or [last]


def views_per_day(series, days=DAYS_SHOWN):
    """[(day, views)] for the last ``days`` days, oldest first, read in one call of the store."""
    return counts_per_day(series, days, day_name)


def bots_per_day(series, days=DAYS_SHOWN):
    """[(day, bots)] for the last ``days`` days, oldest first, read in one call of the store."""
    return counts_per_day(series, days, bots_name)


def counts_per_day(series, days, *kinds):
    """[(day, count of each kind)] for the last ``days`` days, oldest first, where a kind names a
    day's count (day_name for views, bots_name for bots): all read in one call of the store."""
    names = {day: [kind(series, day) for kind in kinds] for day in last_days(days)}
    counts = get_store().get_many([name for day_names in names.values() for name in day_names])
    return [(day, *(counts[name] for name in day_names)) for day, day_names in names.items()]


def visitors_per_day(series, days=DAYS_SHOWN):
    """[(day, unique visitors)] for the last ``days`` days, oldest first, read all at once."""
    names = {day: day_name(series, day) for day in last_days(days)}
    counted = visitors.counts(list(names.values()))
    return [(day, counted[name]) for day, name in names.items()]
