"""Unique visitors per counter and day (counter.features.visitors): a daily salted hash of address and
browser, counted in a Redis HyperLogLog within its error bounds or exactly in the database, never
storing an address, and surviving a Redis that loses the day's HyperLogLog."""

import datetime

import pytest
from django.test import RequestFactory

from counter.engine.base import get_store
from counter.features import history, named, visitors
from counter.models import DailySalt, DailyVisitor, DailyVisitors
from herokuapp.redis_client import get_redis
from tests.support.round_trips import sent_by_the_app

pytestmark = pytest.mark.django_db(transaction=True)

DAY = datetime.date(2026, 11, 24)
NAME = "series@2026-11-24"


def use_store(request, store):
    request.getfixturevalue(f"{store}_counter")
    return store


@pytest.fixture(params=["database", "redis"])
def store(request):
    """Visitors are kept where COUNTER_STORE keeps the counts, in Redis or in the database: either."""
    return use_store(request, request.param)


@pytest.fixture
def in_database(request):
    return use_store(request, "database")


@pytest.fixture
def in_redis(request):
    return use_store(request, "redis")


def request_from(address, agent="Firefox"):
    return RequestFactory().get("/", HTTP_X_FORWARDED_FOR=address, HTTP_USER_AGENT=agent)


def test_a_visitor_counts_once_a_day_however_often_they_come(store):
    for _ in range(3):
        visitors.record(NAME, request_from("198.51.100.7"), DAY)
    visitors.record(NAME, request_from("198.51.100.7", agent="Safari"), DAY)  # another browser
    visitors.record(NAME, request_from("203.0.113.9"), DAY)
    assert visitors.count(NAME) == 3


def test_the_same_visitor_on_another_day_cannot_be_linked_to_the_first(store):
    first = visitors.visitor_of(request_from("198.51.100.7"), DAY)
    second = visitors.visitor_of(request_from("198.51.100.7"), DAY + datetime.timedelta(days=1))
    assert first != second
    assert visitors.visitor_of(request_from("198.51.100.7"), DAY + datetime.timedelta(days=1)) == second


def test_no_address_is_stored_and_past_days_salts_are_deleted(store):
    visitors.record(NAME, request_from("198.51.100.7"), DAY)
    stored = [row.visitor for row in DailyVisitor.objects.all()]
    assert all("198.51.100.7" not in visitor for visitor in stored)
    assert list(DailySalt.objects.values_list("day", flat=True)) == [DAY]
    visitors.record("series@2026-11-25", request_from("198.51.100.7"), DAY + datetime.timedelta(days=1))
    assert list(DailySalt.objects.values_list("day", flat=True)) == [DAY + datetime.timedelta(days=1)]


def test_the_router_appended_address_is_the_visitor_not_one_the_client_sent(store):
    visitors.record(NAME, request_from("10.0.0.1, 198.51.100.7"), DAY)
    visitors.record(NAME, request_from("10.0.0.2, 198.51.100.7"), DAY)
    assert visitors.count(NAME) == 1


def test_unique_counts_stay_within_the_stores_error_bounds_on_known_data(store):
    distinct = 20_000 if store == "redis" else 1_500
    requests = [request_from(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}") for n in range(distinct)]
    for request in requests + requests[: distinct // 4]:  # a quarter come back
        visitors.record(NAME, request, DAY)
    counted = visitors.count(NAME)
    if store == "redis":
        assert abs(counted - distinct) <= 0.025 * distinct  # three standard errors of Redis's 0.81 %
    else:
        assert counted == distinct


def test_a_past_days_visitor_rows_are_folded_into_a_count(in_database):
    for address in ("198.51.100.7", "203.0.113.9"):
        visitors.record(NAME, request_from(address), DAY)
    visitors.record("series@2026-11-25", request_from("198.51.100.7"), DAY + datetime.timedelta(days=1))
    assert not DailyVisitor.objects.filter(name=NAME).exists()
    assert DailyVisitors.objects.get(name=NAME).visitors == 2
    assert visitors.count(NAME) == 2


def test_a_hyperloglog_redis_lost_comes_back_from_the_databases_copy(in_redis):
    for address in ("198.51.100.7", "203.0.113.9", "192.0.2.1"):
        visitors.record(NAME, request_from(address), DAY)
    assert visitors.flush(get_redis()) == 1
    assert DailyVisitors.objects.get(name=NAME).visitors == 3
    get_redis().delete(visitors.key(NAME))
    assert visitors.count(NAME) == 3  # the copy stands in meanwhile
    visitors.record(NAME, request_from("198.51.100.7"), DAY)  # seen before the loss
    visitors.record(NAME, request_from("198.51.100.99"), DAY)
    visitors.flush(get_redis())
    assert get_redis().pfcount(visitors.key(NAME)) == 4
    assert visitors.count(NAME) == 4


def test_each_flush_round_of_the_store_copies_visitors(in_redis):
    visitors.record(NAME, request_from("198.51.100.7"), DAY)
    get_store().flush()
    assert DailyVisitors.objects.get(name=NAME).visitors == 1


def test_with_the_database_store_visitors_are_counted_in_the_database_even_with_redis_there(
    in_database, settings, redis_url
):
    """COUNTER_STORE=database keeps every count durable before it is shown, visitors included: a
    REDIS_URL set for something else does not move them to Redis."""
    settings.REDIS_URL = redis_url
    for address in ("198.51.100.7", "198.51.100.7", "203.0.113.9"):
        visitors.record(NAME, request_from(address), DAY)
    assert DailyVisitor.objects.filter(name=NAME).count() == 2
    assert visitors.count(NAME) == 2
    assert list(get_redis().scan_iter(match=visitors.PREFIX + "*")) == []


def test_a_view_counts_even_when_its_visitor_cannot_be(store, monkeypatch, settings):
    monkeypatch.setattr(DailySalt._meta, "db_table", "no_such_table")  # the salt cannot be read
    assert named.hit("site/home", request_from("198.51.100.7")).value == 1
    assert named.today("site/home") == {"views": 1, "visitors": 0, "bots": 0}


def test_hits_through_the_api_count_their_visitors(client, store, monkeypatch):
    monkeypatch.setattr(history, "today", lambda: DAY)
    for address in ("198.51.100.7", "198.51.100.7", "203.0.113.9"):
        client.post("/api/v1/counters/site/home/hit", HTTP_X_FORWARDED_FOR=address, secure=True)
    assert client.get("/api/v1/counters/site/home", secure=True).json()["today"] == {
        "views": 3,
        "visitors": 2,
        "bots": 0,
    }


def test_counts_reads_many_days_at_once_as_count_reads_each(store):
    """A day Redis still holds, a day only the database's copy holds (Redis lost it), a day folded
    into a count, today's rows, and a day nobody visited: each as ``count`` reads it alone."""
    next_day, no_one = "series@2026-11-25", "series@2026-11-23"
    for address in ("198.51.100.7", "203.0.113.9"):
        visitors.record(NAME, request_from(address), DAY)
    visitors.record(next_day, request_from("198.51.100.7"), DAY + datetime.timedelta(days=1))
    if store == "redis":
        visitors.flush(get_redis())
        get_redis().delete(visitors.key(NAME))
    assert visitors.counts([NAME, next_day, no_one]) == {NAME: 2, next_day: 1, no_one: 0}
    assert [visitors.count(name) for name in (NAME, next_day, no_one)] == [2, 1, 0]
    assert visitors.counts([]) == {}


def test_counts_of_a_year_of_days_cost_the_same_queries_and_redis_round_trips_as_one_day(store, settings):
    """The database's counts in one query, then today's rows in another, or Redis's HyperLogLogs in
    one script call."""
    names = [f"series@{DAY - datetime.timedelta(days=back)}" for back in range(366)]
    with sent_by_the_app(settings) as sent:
        visitors.record(names[0], request_from("198.51.100.7"), DAY)
        visitors.counts(names[:1])  # Redis loads the script on its first call
        costs = {days: sent(lambda: visitors.counts(names[:days]))[:2] for days in (1, 30, 366)}
    assert costs == dict.fromkeys((1, 30, 366), (1, 1) if store == "redis" else (2, 0))
