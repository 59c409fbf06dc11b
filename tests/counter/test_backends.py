from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from counter.backends import DatabaseCounter, get_counter
from counter.redis_counter import RedisCounter

# Transactional: the concurrency test's threads must see each other's commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["database", "redis"])
def counter(request):
    """Each test runs once against each backend, on real storage."""
    if request.param == "redis":
        request.getfixturevalue("redis_counter")
        return RedisCounter()
    return DatabaseCounter()


def test_first_hit_counts_one(counter):
    assert counter.hit("page") == 1


def test_each_hit_adds_exactly_one(counter):
    assert [counter.hit("page") for _ in range(5)] == [1, 2, 3, 4, 5]


def test_get_reads_without_counting(counter):
    assert counter.get("page") == 0
    counter.hit("page")
    assert counter.get("page") == 1
    assert counter.get("page") == 1


def test_counters_are_independent_by_name(counter):
    counter.hit("a")
    counter.hit("a")
    counter.hit("b")
    assert (counter.get("a"), counter.get("b")) == (2, 1)


def test_concurrent_hits_are_each_counted_once(counter):
    def hit(_):
        try:
            return counter.hit("page")
        finally:
            connection.close()  # each thread has its own connection

    hits = 200
    with ThreadPoolExecutor(max_workers=8) as pool:
        returned = list(pool.map(hit, range(hits)))
    assert counter.get("page") == hits
    assert sorted(returned) == list(range(1, hits + 1))


def test_settings_choose_the_backend(settings, redis_url):
    settings.COUNTER_BACKEND = "counter.backends.DatabaseCounter"
    assert isinstance(get_counter(), DatabaseCounter)
    settings.REDIS_URL = redis_url
    settings.COUNTER_BACKEND = "counter.redis_counter.RedisCounter"
    assert isinstance(get_counter(), RedisCounter)
