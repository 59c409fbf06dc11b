"""Views, unique visitors and bots per day of named counters (counter.features.history). Time is set by the
tests: days are UTC dates."""

import datetime
import json

import pytest
from django.test import RequestFactory

from counter.engine.base import get_store
from counter.engine.database import add_views
from counter.features import history, named
from counter.models import Counter, NamedCounter
from tests.support.agents import BROWSER
from tests.support.days import DAY, bot_hits, days_ago, hits
from tests.support.round_trips import sent_by_the_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}


def series(name):
    return NamedCounter.objects.get(name=name).series


def test_each_view_is_counted_on_its_day_across_midnight(clock):
    hits("site/home", 3)
    clock["day"] = DAY + datetime.timedelta(days=1)
    hits("site/home", 2)
    days = history.views_per_day(series("site/home"), days=3)
    assert days == [(DAY - datetime.timedelta(days=1), 0), (DAY, 3), (DAY + datetime.timedelta(days=1), 2)]
    assert named.get("site/home") == 5


def test_days_are_kept_as_durably_as_the_counts(clock, backend):
    hits("site/home", 4)
    if backend == "redis":
        get_store().flush()
    assert Counter.objects.get(name=history.day_name(series("site/home"), DAY)).views == 4


def test_a_reset_changes_the_total_not_the_days(client, clock):
    token = json.loads(
        client.post(
            "/api/v1/counters", {"namespace": "site", "key": "home"}, content_type="application/json", **HTTPS
        ).content
    )["token"]
    hits("site/home", 3)
    named.reset("site/home", token)
    assert history.views_per_day(series("site/home"), days=1) == [(DAY, 3)]


def test_a_counter_created_again_after_deletion_starts_a_new_history(client, clock):
    created = client.post(
        "/api/v1/counters", {"namespace": "site", "key": "home"}, content_type="application/json", **HTTPS
    ).json()
    hits("site/home", 3)
    old_series = series("site/home")
    named.delete("site/home", created["token"])
    hits("site/home", 1)
    assert series("site/home") != old_series
    assert history.views_per_day(series("site/home"), days=1) == [(DAY, 1)]


def test_a_years_days_are_each_read_wherever_their_views_are(clock, backend):
    """With Redis, a day's views may be in the database (flushed, or counted there while Redis was
    away), in Redis (pending), or both: each day shows their sum, and a day nobody saw shows 0."""
    clock["day"] = days_ago(366)
    hits("site/home", 7)  # a day before the year shown
    clock["day"] = days_ago(365)
    hits("site/home", 2)
    clock["day"] = days_ago(100)
    hits("site/home", 3)
    get_store().flush()
    hits("site/home", 1)
    day_name = history.day_name(series("site/home"), days_ago(100))
    assert Counter.objects.get(name=day_name).views == (3 if backend == "redis" else 4), (
        "partly in Redis, partly in the database"
    )
    add_views(history.day_name(series("site/home"), days_ago(50)), 4)  # as the store counts while Redis is away
    clock["day"] = DAY
    hits("site/home", 5)
    days = history.views_per_day(series("site/home"), days=366)
    assert [day for day, _ in days] == [days_ago(back) for back in range(365, -1, -1)]
    assert {day: views for day, views in days if views} == {days_ago(365): 2, days_ago(100): 4, days_ago(50): 4, DAY: 5}


def test_bots_are_counted_on_their_day_apart_from_views(clock, backend):
    hits("site/home", 2)
    bot_hits("site/home", 3)
    clock["day"] = DAY + datetime.timedelta(days=1)
    bot_hits("site/home", 1)
    if backend == "redis":
        get_store().flush()
    home = series("site/home")
    assert history.bots_per_day(home, days=3) == [
        (DAY - datetime.timedelta(days=1), 0),
        (DAY, 3),
        (DAY + datetime.timedelta(days=1), 1),
    ]
    assert history.views_per_day(home, days=3) == [
        (DAY - datetime.timedelta(days=1), 0),
        (DAY, 2),
        (DAY + datetime.timedelta(days=1), 0),
    ]
    assert Counter.objects.get(name=history.bots_name(home, DAY)).views == 3, "as durable as the views"
    assert named.get("site/home") == 2


def test_visitors_per_day_are_each_days_unique_visitors(clock, backend):
    for day, addresses in ((days_ago(2), ["198.51.100.7", "203.0.113.9"]), (DAY, ["198.51.100.7"] * 3)):
        clock["day"] = day
        for address in addresses:
            named.hit("site/home", RequestFactory().get("/", HTTP_X_FORWARDED_FOR=address, HTTP_USER_AGENT=BROWSER))
    get_store().flush()  # with Redis, the day's copy reaches the database
    assert history.visitors_per_day(series("site/home"), days=3) == [(days_ago(2), 2), (days_ago(1), 0), (DAY, 1)]


def test_a_year_of_days_costs_the_same_queries_and_redis_round_trips_as_one_day(clock, settings, backend):
    """All the days are read together: for 1, 30 or 366 days, one query or Redis call for the views,
    the bots, or both (two with Redis: the days Redis does not hold are read from the database),
    and two for the visitors (the database's counts, then today's rows or Redis's HyperLogLogs)."""
    with sent_by_the_app(settings) as sent:
        clock["day"] = days_ago(1)
        hits("site/home", 3)  # in Redis: the days of a span come from both Redis and the database
        bot_hits("site/home", 2)
        clock["day"] = DAY
        home = series("site/home")
        history.views_per_day(home, days=1)  # Redis loads the scripts on their first call
        history.visitors_per_day(home, days=1)
        views = {days: sent(lambda: history.views_per_day(home, days)) for days in (1, 30, 366)}
        bots = {days: sent(lambda: history.bots_per_day(home, days)) for days in (1, 30, 366)}
        both = {
            days: sent(lambda: history.counts_per_day(home, days, history.day_name, history.bots_name))
            for days in (1, 30, 366)
        }
        visitors = {days: sent(lambda: history.visitors_per_day(home, days)) for days in (1, 30, 366)}
    for reads in (views, bots, both):
        assert {days: result[:2] for days, result in reads.items()} == dict.fromkeys(
            (1, 30, 366), (1, 1) if backend == "redis" else (1, 0)
        )
    assert {days: result[:2] for days, result in visitors.items()} == dict.fromkeys(
        (1, 30, 366), (1, 1) if backend == "redis" else (2, 0)
    )
    assert views[366][2][-2:] == [(days_ago(1), 3), (DAY, 0)] and len(views[366][2]) == 366
    assert bots[366][2][-2:] == [(days_ago(1), 2), (DAY, 0)] and len(bots[366][2]) == 366
    assert both[366][2][-2:] == [(days_ago(1), 3, 2), (DAY, 0, 0)]


def test_the_days_since_a_day_run_to_today_and_since_a_day_to_come_are_today_alone(clock):
    assert history.days_since(days_ago(2)) == [days_ago(2), days_ago(1), DAY]
    assert history.days_since(DAY) == [DAY]
    assert history.days_since(DAY + datetime.timedelta(days=1)) == [DAY], "a clock a little ahead of this one's"
