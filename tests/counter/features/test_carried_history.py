"""A history carried over from another service when a counter is created (counter.features.carried_history,
POST /api/v1/counters with "history"): checked whole, written durably with the counter's row, and
then shown wherever the counter's own days are. Each test runs with both counter stores; time is
set by the tests: days are UTC dates."""

import json

import pytest
from django.test import RequestFactory

from counter.engine.base import get_store
from counter.features import carried_history, history, named, visitors
from counter.models import Counter, DailyVisitors, NamedCounter
from tests.support.agents import BROWSER
from tests.support.days import DAY, days_ago

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
BASE = "/api/v1/counters"


def entry(back, views, visitors, **extra):
    return {"day": days_ago(back).isoformat(), "views": views, "visitors": visitors, **extra}


def create(client, history, value=1000, key="home"):
    body = json.dumps({"namespace": "site", "key": key, "value": value, "history": history})
    return client.post(BASE, body, content_type="application/json", **HTTPS)


def series(name="site/home"):
    return NamedCounter.objects.get(name=name).series


CARRIED = [entry(1, 5, 3, bots=2), entry(10, 7, 7), entry(40, 2, 1), entry(41, 0, 0, bots=4)]


def test_a_carried_history_shows_in_the_counters_days_visitors_and_stats_page(client, clock, backend):
    assert create(client, CARRIED, value=100).status_code == 201
    named.hit("site/home", RequestFactory().get("/", HTTP_X_FORWARDED_FOR="198.51.100.7", HTTP_USER_AGENT=BROWSER))
    if backend == "redis":
        get_store().flush()  # a flush round moves today's view and visitor, and leaves the carried days be
    views = dict(history.views_per_day(series(), days=42))
    unique = dict(history.visitors_per_day(series(), days=42))
    assert {day: count for day, count in views.items() if count} == {
        days_ago(40): 2,
        days_ago(10): 7,
        days_ago(1): 5,
        DAY: 1,
    }
    assert {day: count for day, count in unique.items() if count} == {
        days_ago(40): 1,
        days_ago(10): 7,
        days_ago(1): 3,
        DAY: 1,
    }
    assert named.get("site/home") == 101, "the carried views are in the starting value, not added to it"
    page = client.get("/stats/site/home/", **HTTPS).content.decode()
    assert f"<tr><td>{days_ago(1)}</td><td>5</td><td>3</td><td>2</td></tr>" in page
    assert f"<tr><td>{days_ago(10)}</td><td>7</td><td>7</td><td>0</td></tr>" in page


def test_a_carried_history_is_durable_as_the_engines_rows_and_the_visitors_counts(client, clock, backend):
    create(client, CARRIED, value=100)
    home = series()
    assert dict(Counter.objects.filter(name__startswith=home).values_list("name", "views")) == {
        history.day_name(home, days_ago(1)): 5,
        history.bots_name(home, days_ago(1)): 2,
        history.day_name(home, days_ago(10)): 7,
        history.day_name(home, days_ago(40)): 2,
        history.bots_name(home, days_ago(41)): 4,
    }, "no row for a zero"
    assert dict(DailyVisitors.objects.values_list("name", "visitors")) == {
        history.day_name(home, days_ago(1)): 3,
        history.day_name(home, days_ago(10)): 7,
        history.day_name(home, days_ago(40)): 1,
    }
    assert NamedCounter.objects.get().first_day == days_ago(41)
    assert get_store().get_many([history.bots_name(home, days_ago(1)), history.bots_name(home, days_ago(10))]) == {
        history.bots_name(home, days_ago(1)): 2,
        history.bots_name(home, days_ago(10)): 0,
    }
    assert visitors.count(history.day_name(home, days_ago(1))) == 3


def test_a_counter_created_without_a_history_starts_its_days_today(client, clock):
    assert create(client, None).status_code == 201
    assert create(client, [], value=-5, key="empty").status_code == 201, "an empty history asks nothing of the value"
    named.hit("site/other")
    assert list(NamedCounter.objects.values_list("first_day", flat=True)) == [DAY, DAY, DAY]
    assert not Counter.objects.filter(name__startswith=series()).exists()


def test_the_longest_history_fits_in_a_creation_and_a_body_beyond_256_kib_does_not(client, clock):
    longest = [entry(back, 1000, 999, bots=12) for back in range(carried_history.MAX_DAYS, 0, -1)]
    too_large = json.dumps({"namespace": "site", "key": "big", "history": longest, "padding": "x" * 256 * 1024})
    response = client.post(BASE, too_large, content_type="application/json", **HTTPS)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    assert create(client, longest, value=10**7).status_code == 201
    assert NamedCounter.objects.get().first_day == days_ago(carried_history.MAX_DAYS)
    assert sum(views for _, views in history.views_per_day(series(), days=carried_history.MAX_DAYS + 1)) == 3_660_000


def test_counts_written_as_json_numbers_with_a_zero_fraction_are_whole_numbers(client, clock):
    assert create(client, [entry(1, 5.0, 2.0, bots=1.0)]).status_code == 201
    assert history.views_per_day(series(), days=2)[0] == (days_ago(1), 5)


MORE_THAN_ALLOWED = [entry(1, 0, 0)] * (carried_history.MAX_DAYS + 1)


@pytest.mark.parametrize(
    "carried, value, says",
    [
        ({"day": "2026-11-23"}, 10, "'history' must be a list of days"),
        (MORE_THAN_ALLOWED, 10, "'history' may hold at most 3660 days, not 3661"),
        ([entry(1, 1, 1), 7], 10, "history[1] must be an object"),
        ([entry(1, 1, 1, vistors=1)], 10, "history[0] has a field 'vistors'"),
        ([entry(0, 1, 1)], 10, "history[0].day must be a date YYYY-MM-DD from 2016-11-16 to 2026-11-23"),
        ([entry(-1, 1, 1)], 10, "history[0].day must be a date"),
        ([entry(carried_history.MAX_DAYS + 1, 1, 1)], 10, "history[0].day must be a date"),
        ([{"day": "2026-11-2", "views": 1, "visitors": 1}], 10, "history[0].day must be a date"),
        ([{"day": "2026-02-30", "views": 1, "visitors": 1}], 10, "history[0].day must be a date"),
        ([{"day": 20261123, "views": 1, "visitors": 1}], 10, "history[0].day must be a date"),
        ([{"views": 1, "visitors": 1}], 10, "history[0].day must be a date"),
        (
            [entry(2, 1, 1), entry(1, 1, 1), entry(2, 3, 0)],
            10,
            f"history[2].day: {days_ago(2)} is in the history more than once",
        ),
        ([entry(1, -1, 0)], 10, "history[0].views must be a whole number from 0 to 10^15"),
        ([entry(1, 1.5, 0)], 10, "history[0].views must be a whole number"),
        ([entry(1, "3", 0)], 10, "history[0].views must be a whole number"),
        ([entry(1, True, 0)], 10, "history[0].views must be a whole number"),
        ([{"day": "2026-11-23", "views": 1}], 10, "history[0].visitors must be a whole number"),
        ([entry(1, 1, 0, bots=-1)], 10, "history[0].bots must be a whole number"),
        ([entry(1, 1, 0, bots=10**16)], 10, "history[0].bots must be a whole number"),
        ([entry(1, 2, 3)], 10, "history[0].visitors (3) must not be more than its views (2)"),
        (
            [entry(2, 4, 0), entry(1, 2, 0)],
            5,
            "'value' (5) is less than the history's views (6), which it counts already",
        ),
        ([entry(1, 1, 0)], -1, "'value' (-1) is less than the history's views (1)"),
    ],
)
def test_a_history_that_cannot_be_carried_in_is_a_400_naming_the_entry_and_field(client, clock, carried, value, says):
    response = create(client, carried, value=value)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_history"
    assert error["message"].startswith(says)
    assert not NamedCounter.objects.exists() and not Counter.objects.exists() and not DailyVisitors.objects.exists()


def test_a_creation_that_loses_the_race_for_its_name_writes_none_of_its_history(clock):
    """Another process creates the name between the check that it is free and the insert: the
    days already written go back with the transaction."""
    days = carried_history.parse(CARRIED, 100)
    with pytest.raises(named.CounterExists):
        named.create("site/home", start=100, days=days, before_creating=lambda: named.hit("site/home"))
    assert list(NamedCounter.objects.values_list("name", "first_day")) == [("site/home", DAY)]
    assert not Counter.objects.exclude(name__in=["site/home", history.day_name(series(), DAY)]).exists()
    assert not DailyVisitors.objects.exists()
