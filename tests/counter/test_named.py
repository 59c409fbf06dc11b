"""Named counters (counter.named): names the web can reach, and changes every process sees at once."""

import itertools

import pytest
import requests

from counter import named
from counter.engine.base import CounterUnavailable
from counter.models import NamedCounter
from tests.dyno import WebDyno, dyno_environment, router_headers, run_process


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
def test_with_the_database_away_a_named_counter_is_unavailable_not_a_guess(redis_counter, request):
    """The Redis store could still count, but not against an offset or a deletion it cannot see."""
    named.hit("example.com/home")
    request.getfixturevalue("database_down")
    with pytest.raises(CounterUnavailable):
        named.get("example.com/home")


# -- every worker of every dyno --------------------------------------------------------------------

@pytest.fixture(params=["database", "redis"])
def two_dynos(request, sqlite_url):
    """Two web dynos of two workers each, on one database (and one Redis, with the Redis store)."""
    env = dyno_environment(DYNO="web.1", WEB_CONCURRENCY=2, SECRET_KEY="x" * 60, ALLOWED_HOSTS="localhost",
                           DATABASE_URL=sqlite_url)
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
