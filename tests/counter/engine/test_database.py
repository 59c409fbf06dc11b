"""The database store: each view is one atomic upsert, durable before its number is shown, and
every write stamps the row's ``updated`` by the database's clock."""

import contextlib
import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import close_old_connections, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from counter.engine.base import CounterUnavailable
from counter.engine.database import DatabaseStore, add_views
from counter.engine.flusher import database_now
from counter.models import Counter
from tests.counter.engine.conftest import durable

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return DatabaseStore()


def test_a_counter_s_first_view_shows_one(store):
    assert store.hit("page") == 1
    assert durable("page") == 1


def test_each_view_adds_exactly_one_and_shows_the_new_total(store):
    assert [store.hit("page") for _ in range(5)] == [1, 2, 3, 4, 5]


def test_get_reads_the_total_without_counting(store):
    assert store.get("page") == 0
    store.hit("page")
    assert [store.get("page"), store.get("page")] == [1, 1]
    assert durable("page") == 1


def test_counters_are_independent_by_name(store):
    store.hit("a")
    store.hit("a")
    store.hit("b")
    assert (store.get("a"), store.get("b"), store.get("c")) == (2, 1, 0)


def test_get_many_reads_any_number_of_counters_in_one_query(store):
    names = [f"day-{n}" for n in range(366)]
    for name in (names[0], names[29], names[365]):
        store.hit(name)
    add_views(names[29], 4)
    read = {}
    for count in (1, 30, 366):
        with CaptureQueriesContext(connection) as queries:
            read[count] = store.get_many(names[:count])
        assert len(queries) == 1, count
    assert read[1] == {names[0]: 1}
    assert {name: views for name, views in read[366].items() if views} == {names[0]: 1, names[29]: 5, names[365]: 1}
    assert list(read[366]) == names and read[30] == {name: read[366][name] for name in names[:30]}


def test_add_views_adds_a_batch_in_one_statement_and_returns_the_total(store):
    """The Redis store's rounds add a batch of views per counter with add_views."""
    assert add_views("page", 40) == 40
    assert add_views("page", 2) == 42
    assert store.hit("page") == 43


def stamp(name):
    return Counter.objects.get(name=name).updated.timestamp()


def test_every_write_stamps_the_row_by_the_database_s_clock(store):
    """A row's ``updated`` is how the Redis store learns of totals written outside its batches,
    so a view counted here and a batch added here both move it to the database's now."""
    before = database_now()
    store.hit("page")
    assert before <= stamp("page") <= database_now()
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    Counter.objects.filter(name="page").update(updated=long_ago)
    store.hit("page")
    assert stamp("page") >= before
    Counter.objects.filter(name="page").update(updated=long_ago)
    add_views("page", 5)
    assert stamp("page") >= before


@pytest.mark.django_db(transaction=True)
def test_views_from_many_threads_at_once_are_each_counted_once(store):
    """No read-modify-write race: every thread's view adds one, and each sees its own total."""

    def hit(_):
        try:
            return store.hit("page")
        finally:
            connection.close()  # each thread has its own connection

    hits = 200
    with ThreadPoolExecutor(max_workers=8) as pool:
        shown = list(pool.map(hit, range(hits)))
    assert sorted(shown) == list(range(1, hits + 1))
    assert store.get("page") == hits


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_counter_unavailable_and_views_count_again_once_it_is_back(
    store, database_unreachable
):
    """Nothing can count the view: the page answers 503 and the client tries again."""
    store.hit("page")
    database_unreachable()
    with pytest.raises(CounterUnavailable):
        store.hit("page")
    with pytest.raises(CounterUnavailable):
        store.get("page")
    with pytest.raises(CounterUnavailable):
        store.get_many(["page", "other"])
    database_unreachable.restore()
    assert store.hit("page") == 2


# --- PostgreSQL: one round trip per view, through libpq ------------------------------------------

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's health check is a query and the upsert goes through libpq: bin/test's second pass runs this",
)
# Outside a transaction, as in a request, the upsert goes through libpq: these tests commit.
committing = pytest.mark.django_db(transaction=True)


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
    """What Django does between two requests."""
    close_old_connections()


@on_postgres
@committing
def test_a_connection_that_just_answered_a_view_is_not_checked_again(store, health_checks):
    store.hit("page")
    checks_of_the_first_view = len(health_checks)
    for _ in range(3):
        next_request()
        store.hit("page")
    assert len(health_checks) == checks_of_the_first_view, "one round trip per view under traffic"
    assert store.get("page") == 4


@on_postgres
@committing
def test_a_connection_idle_for_longer_is_checked_before_counting(store, health_checks, monkeypatch):
    store.hit("page")
    monkeypatch.setattr("counter.engine.database.ANSWERED_RECENTLY", 0.0)
    next_request()
    store.hit("page")
    assert health_checks[-1:] == [True]


@on_postgres
@committing
def test_a_connection_the_server_ended_right_after_answering_is_replaced_and_the_view_counts(store, health_checks):
    store.hit("page")
    end_this_session()
    next_request()
    assert store.hit("page") == 2, "counted on a new connection, within the second"
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


@contextlib.contextmanager
def row_held_elsewhere(name):
    """While the block runs, another transaction, in a thread of its own, holds the counter's row
    locked, as a concurrent view would; a statement that needs the row waits for it."""
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Counter.objects.select_for_update().get(name=name)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(10), "the other transaction took the row's lock"
        yield
    finally:
        release.set()
        holder.join(10)


@on_postgres
@committing
def test_an_upsert_the_server_cancels_is_counter_unavailable_and_the_next_view_counts(store):
    """The statement fails on the server (here a lock it waited for past its statement timeout):
    the view is refused as Django's error, the connection is marked for the request's end to
    check, and the next view counts on it."""
    store.hit("page")
    with row_held_elsewhere("page"):
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 50")
        with pytest.raises(CounterUnavailable) as refused:
            store.hit("page")
        assert "statement timeout" in str(refused.value.__cause__)
        assert connection.errors_occurred, "the request's end checks the connection before reuse"
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    assert store.hit("page") == 2
    assert store.get("page") == 2


@on_postgres
@committing
def test_inside_a_transaction_the_view_is_counted_by_django_s_cursor_and_goes_with_it(store):
    """Outside a transaction the upsert bypasses Django's cursor (and its query log); inside one,
    Django's cursor sends it, so that Django's checks of a broken transaction apply."""
    with CaptureQueriesContext(connection) as outside:
        store.hit("page")
    assert outside.captured_queries == []
    with pytest.raises(RuntimeError), transaction.atomic():
        with CaptureQueriesContext(connection) as inside:
            assert store.hit("page") == 2
        assert [query["sql"].split()[0] for query in inside.captured_queries] == ["INSERT"]
        raise RuntimeError("the caller's transaction rolls back")
    assert store.get("page") == 1, "the view went with it"
