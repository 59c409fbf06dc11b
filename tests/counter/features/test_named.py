"""Named counters (counter.features.named): names the web can reach, and changes every process sees at once."""

import itertools

import pytest
import requests
from django.test import RequestFactory

from counter.engine.base import CounterUnavailable, get_store
from counter.features import history, named, rate_limits, visitors
from counter.models import NamedCounter
from herokuapp import process_state
from herokuapp.redis_client import get_redis
from tests.support.agents import BROWSER
from tests.support.dyno import WebDyno, dyno_environment, router_headers, run_process
from tests.support.round_trips import sent_by_the_app

NAME = "example.com/home"


def visit(address="203.0.113.9"):
    return RequestFactory().get("/", HTTP_X_FORWARDED_FOR=address, HTTP_USER_AGENT=BROWSER)


@pytest.mark.parametrize("part", [".", ".."])
def test_a_dot_segment_is_no_name_since_urls_normalise_it_away(part):
    for namespace, key in ((part, "home"), ("example.com", part)):
        with pytest.raises(named.InvalidName, match='not "." or ".."'):
            named.counter_name(namespace, key)


def test_dots_within_a_name_are_fine():
    assert named.counter_name("example.com", "...home") == "example.com/...home"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend")
def test_a_change_made_in_the_database_shows_in_the_next_answer():
    named.hit("example.com/home")
    NamedCounter.objects.filter(name="example.com/home").update(offset=-1000)
    assert named.get("example.com/home") == 1001
    NamedCounter.objects.filter(name="example.com/home").delete()
    with pytest.raises(named.UnknownCounter):
        named.get("example.com/home")


@pytest.mark.django_db(transaction=True)
def test_with_the_database_away_a_counter_this_process_never_served_is_unavailable_not_a_guess(redis_counter, request):
    """Redis could still count, but not against an offset or a deletion it cannot see."""
    named.hit(NAME)
    process_state.reset()
    request.getfixturevalue("database_down")
    with pytest.raises(CounterUnavailable):
        named.hit(NAME)
    with pytest.raises(CounterUnavailable):
        named.get(NAME)


# -- a view in one round trip (Redis store) --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_view_of_a_counter_the_process_has_served_is_one_round_trip_to_redis_and_no_query(redis_counter, settings):
    """Rate limit, counter, day, visitor and the row's stamp travel in one write to Redis."""
    window = rate_limits.window(rate_limits.API_REQUESTS, "client")
    with sent_by_the_app(settings) as sent:
        named.hit(NAME, visit(), limit=window)  # reads the row and stamps it
        writes = sent.link.writes
        statements, _, counted = sent(lambda: named.hit(NAME, visit("198.51.100.7"), limit=window))
        assert (statements, sent.link.writes - writes) == (0, 1)
    assert (counted.value, counted.today, counted.used) == (2, 2, 2)
    day_name = history.day_name(NamedCounter.objects.get(name=NAME).series, history.today())
    assert visitors.count(day_name) == 2


@pytest.mark.django_db(transaction=True)
def test_a_view_beyond_its_limit_counts_nothing(redis_counter, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 2
    window = rate_limits.window(rate_limits.API_REQUESTS, "client")
    assert [named.hit(NAME, limit=window).value for _ in range(3)] == [1, 2, None]
    assert named.get(NAME) == 2


@pytest.mark.django_db(transaction=True)
def test_a_change_made_by_another_process_shows_in_this_ones_next_view(redis_counter):
    named.hit(NAME)
    token = named.create("example.com/other")
    named.reset("example.com/other", token, 500)
    named.hit("example.com/other")
    other_process_resets = lambda: named.reset("example.com/other", token, 40)  # noqa: E731
    other_process_resets()
    assert named.hit("example.com/other").value == 41
    named.delete("example.com/other", token)
    created_again = named.hit("example.com/other")
    assert (created_again.value, created_again.today) == (1, 1)
    series = NamedCounter.objects.get(name="example.com/other").series
    assert get_store().get(history.day_name(series, history.today())) == 1


@pytest.mark.django_db(transaction=True)
def test_a_process_that_finds_no_stamp_reads_the_row_and_stamps_it_for_a_minute_at_most(redis_counter):
    named.hit(NAME)
    get_redis().delete(named.STAMPS + NAME)
    NamedCounter.objects.filter(name=NAME).update(offset=-100)  # a change whose stamp Redis lost
    assert named.hit(NAME).value == 102
    row = NamedCounter.objects.get(name=NAME)
    assert get_redis().get(named.STAMPS + NAME) == named.stamp(row)
    assert 0 < get_redis().ttl(named.STAMPS + NAME) <= named.STAMP_SECONDS


@pytest.mark.django_db(transaction=True)
def test_with_the_database_away_a_counter_whose_stamp_vouches_for_the_copy_goes_on_counting(redis_counter, request):
    named.hit(NAME, visit())
    request.getfixturevalue("database_down")
    assert named.hit(NAME, visit()).value == 2


# -- every worker of every dyno --------------------------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def two_dynos(request, sqlite_url):
    """Two web dynos of two workers each, on one database (and one Redis, with the Redis store)."""
    env = dyno_environment(
        DYNO="web.1", WEB_CONCURRENCY=2, SECRET_KEY="x" * 60, ALLOWED_HOSTS="localhost", DATABASE_URL=sqlite_url
    )
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    released = run_process("release", env)
    assert released.returncode == 0, released.stdout + released.stderr
    dynos = [WebDyno(env).start(), WebDyno(env).start()]
    yield dynos
    for dyno in dynos:
        dyno.kill()


@pytest.mark.slow
def test_create_reset_and_delete_are_seen_by_every_worker_and_dyno_before_they_answer(two_dynos):
    """Requests are spread over both dynos and, within each, over its workers: once a change has
    answered, no answer anywhere shows the state before it."""
    api = "/api/v1/counters/example.com/home"
    each = itertools.cycle(two_dynos)
    assert [next(each).get(api).status_code for _ in range(8)] == [404] * 8  # every worker has looked
    created = next(each).post("/api/v1/counters", json={"namespace": "example.com", "key": "home", "value": 10})
    assert created.status_code == 201
    token = {"Authorization": f"Bearer {created.json()['token']}"}
    assert [next(each).post(f"{api}/hit").json()["value"] for _ in range(8)] == list(range(11, 19))

    assert next(each).post(f"{api}/reset", json={"value": 1000}, headers=token).json()["value"] == 1000
    assert [next(each).post(f"{api}/hit").json()["value"] for _ in range(8)] == list(range(1001, 1009))

    deleted = requests.delete(next(each).url + api, headers=router_headers() | token, timeout=10)
    assert deleted.status_code == 204
    assert [next(each).get(api).status_code for _ in range(8)] == [404] * 8
    assert next(each).post(f"{api}/hit").json()["value"] == 1
    assert [next(each).get(api).json()["value"] for _ in range(8)] == [1] * 8
