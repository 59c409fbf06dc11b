import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import close_old_connections, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from counter.backends import CounterUnavailable, DatabaseCounter, get_counter
from counter.redis_counter import RedisCounter
from tests.counter.records import row_held_elsewhere

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


on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's health check is a query, SQLite's costs nothing: bin/test's second pass runs this",
)


@pytest.fixture
def health_checks(monkeypatch):
    """Django's health checks of persistent connections (CONN_HEALTH_CHECKS, on as in production),
    as the list of the results of each check made."""
    connection.ensure_connection()
    assert connection.health_check_enabled
    checks = []
    check = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(check()) or checks[-1])
    return checks


def next_request():
    """What Django (and the page's fast path) does between two requests."""
    close_old_connections()


@on_postgres
def test_a_connection_that_just_answered_the_counter_is_not_checked_again(health_checks):
    counter = DatabaseCounter()
    counter.hit("page")
    checks_of_the_first_view = len(health_checks)
    for _ in range(3):
        next_request()
        counter.hit("page")
    assert len(health_checks) == checks_of_the_first_view, "one round trip per view under traffic"
    assert counter.get("page") == 4


@on_postgres
def test_a_connection_idle_for_longer_is_checked_before_counting(health_checks, monkeypatch):
    counter = DatabaseCounter()
    counter.hit("page")
    monkeypatch.setattr("counter.backends.ANSWERED_RECENTLY", 0.0)
    next_request()
    counter.hit("page")
    assert health_checks[-1:] == [True]


@on_postgres
def test_a_connection_the_server_ended_right_after_answering_is_replaced_and_the_view_counts(health_checks):
    counter = DatabaseCounter()
    counter.hit("page")
    end_this_session()
    next_request()
    assert counter.hit("page") == 2, "counted on a new connection, within the second"
    assert health_checks[-1:] == [False], "the check found the session ended, and Django connected anew"


def end_this_session():
    """End this thread's session from the server's side, as a restart or failover does, and wait
    until its backend has gone."""
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if not cursor.fetchone()[0]:
                    return
                time.sleep(0.01)
        raise AssertionError("the backend outlived pg_terminate_backend")
    finally:
        other.close()


through_libpq = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only on PostgreSQL is the upsert sent through libpq: bin/test's second pass runs this",
)


@through_libpq
def test_an_upsert_the_server_cancels_is_counter_unavailable_and_the_next_view_counts():
    """The statement fails on the server (here a lock it waited for past its statement timeout):
    the view is refused as Django's error, the connection is marked for the request's end to
    check, and the next view counts on it."""
    counter = DatabaseCounter()
    counter.hit("page")
    with row_held_elsewhere("page"):
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 50")
        with pytest.raises(CounterUnavailable) as refused:
            counter.hit("page")
        assert "statement timeout" in str(refused.value.__cause__)
        assert connection.errors_occurred, "the request's end checks the connection before reuse"
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    assert counter.hit("page") == 2
    assert counter.get("page") == 2


@through_libpq
def test_inside_a_transaction_the_view_is_counted_by_django_s_cursor_and_goes_with_it():
    """Outside a transaction the upsert bypasses Django's cursor (and its query log); inside one,
    Django's cursor sends it, so that Django's checks of a broken transaction apply."""
    counter = DatabaseCounter()
    with CaptureQueriesContext(connection) as outside:
        counter.hit("page")
    assert outside.captured_queries == []
    with pytest.raises(RuntimeError), transaction.atomic():
        with CaptureQueriesContext(connection) as inside:
            assert counter.hit("page") == 2
        assert [query["sql"].split()[0] for query in inside.captured_queries] == ["INSERT"]
        raise RuntimeError("the caller's transaction rolls back")
    assert counter.get("page") == 1, "the view went with it"
