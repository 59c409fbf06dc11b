"""The store contract, the one store a process counts with, and the settings that choose it."""

import itertools
import subprocess
import sys
import threading
import time

import pytest
import redis
from django.conf import settings as django_settings

from counter.engine import base
from counter.engine.base import CounterStore, flushed, get_store, stop_store
from counter.engine.database import DatabaseStore
from counter.engine.redis_store import RedisStore
from tests.counter.engine.conftest import PAGE, counter_state, durable
from tests.support.dyno import ROOT, dyno_environment

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_store_must_count_and_read_and_may_hold_nothing_to_flush():
    """``hit`` and ``get_many`` are each store's own; a store that keeps nothing outside the
    database has nothing to start, flush (no views moved) or stop."""
    store = CounterStore()
    with pytest.raises(NotImplementedError):
        store.hit(PAGE)
    with pytest.raises(NotImplementedError):
        store.get_many([PAGE])
    assert (store.start(), store.flush(), store.stop()) == (None, 0, None)


class Reads(CounterStore):
    """A store that answers each read from a dict, and remembers the reads it was asked for."""

    def __init__(self, counts):
        self.counts, self.reads = counts, []

    def get_many(self, names):
        self.reads.append(list(names))
        return {name: self.counts.get(name, 0) for name in names}


def test_get_reads_one_name_as_get_many_reads_it():
    """A store reads many names one way, so reading one keeps every guarantee reading many has."""
    store = Reads({"a": 3})
    assert (store.get("a"), store.get("b")) == (3, 0)
    assert store.reads == [["a"], ["b"]]


@pytest.mark.parametrize("store_name", ["database", "redis"])
def test_each_store_reads_many_names_at_once_and_a_name_nothing_counted_as_zero(store_name, request):
    request.getfixturevalue(f"{store_name}_counter")
    store = get_store()
    store.hit("a")
    store.hit("a")
    store.hit("b")
    assert store.get_many(["a", "b", "c"]) == {"a": 2, "b": 1, "c": 0}
    assert store.get_many([]) == {}


def test_counter_store_database_counts_with_the_database_store(database_counter):
    """Each view is one write to the database (the default without REDIS_URL)."""
    store = get_store()
    assert type(store) is DatabaseStore
    assert get_store() is store, "one store per process"
    assert store.hit(PAGE) == 1
    assert durable() == 1


def test_counter_store_redis_counts_with_the_redis_store(redis_counter, redis_client):
    """Each view counts in Redis; the database gets it at the next round."""
    store = get_store()
    assert type(store) is RedisStore
    assert get_store() is store, "one store per process"
    assert store.hit(PAGE) == 1
    assert counter_state(redis_client) == {"base": 0, "pending": 1}
    assert durable() == 0


def test_stop_store_flushes_the_store_s_pending_views_and_the_next_view_gets_a_new_store(redis_counter):
    """gunicorn's worker_exit calls stop_store(): a worker stopped by SIGTERM (each deploy, each
    daily restart) leaves nothing pending only in Redis."""
    store = get_store()
    for _ in range(3):
        store.hit(PAGE)
    stop_store()
    assert durable() == 3
    assert get_store() is not store
    assert get_store().hit(PAGE) == 4
    stop_store()
    stop_store()  # no store: nothing to do
    assert durable() == 4


def test_changing_counter_store_stops_the_store_flushing_it_and_the_next_view_uses_the_new_one(settings, redis_counter):
    """Settings change only between tests (or at a restart); the old store must not keep views."""
    store = get_store()
    store.hit(PAGE)
    store.hit(PAGE)
    settings.COUNTER_STORE = "database"
    assert durable() == 2
    assert type(get_store()) is DatabaseStore
    assert get_store().hit(PAGE) == 3


def test_changing_redis_url_flushes_into_the_database_and_the_new_redis_goes_on_from_its_totals(
    settings, redis_counter, redis_server
):
    """The views pending in the old Redis reach the database as the store stops; the new Redis
    seeds its counters from the durable totals."""
    store = get_store()
    store.hit(PAGE)
    store.hit(PAGE)
    settings.REDIS_URL = redis_server.url()
    assert durable() == 2
    assert get_store() is not store
    assert get_store().hit(PAGE) == 3
    assert counter_state(redis_server.client()) == {"base": 2, "pending": 1}


def rounds_during(seconds):
    """When (monotonic seconds) each round of a Redis store ended, for ``seconds`` from now."""
    ended = []

    def receiver(sender, **kwargs):
        ended.append(time.monotonic())

    flushed.connect(receiver)
    try:
        time.sleep(seconds)
    finally:
        flushed.disconnect(receiver)
    return ended


def assert_rounds_every(interval, ended):
    """The rounds came one interval apart: each thread's wait is the interval, a round takes
    milliseconds here (the bounds leave room for a loaded machine)."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(ended)]
    assert len(gaps) >= 3, ended
    assert min(gaps) >= interval * 0.95, gaps
    assert sorted(gaps)[len(gaps) // 2] < interval * 2, gaps


def test_start_runs_rounds_in_the_background_every_flush_interval_until_the_store_stops(settings, redis_counter):
    """gunicorn's post_worker_init calls start(): a thread runs a round at once and then every
    COUNTER_FLUSH_INTERVAL seconds (a fifth here, against one by default), moving views without a
    call to flush(), and stop_store() ends it."""
    settings.COUNTER_FLUSH_INTERVAL = 0.2
    before = set(threading.enumerate())
    store = get_store()
    store.hit(PAGE)
    store.start()
    store.start()  # once per process
    started_here = [thread for thread in threading.enumerate() if thread not in before]
    assert len(started_here) == 1
    ended = rounds_during(1.0)
    assert durable() == 1, "a round moved the view without a call to flush()"
    assert_rounds_every(0.2, ended)
    stop_store()
    assert not started_here[0].is_alive()


def test_changing_the_flush_interval_stops_the_store_flushing_it_and_the_next_runs_rounds_at_the_new_one(
    settings, redis_counter
):
    """The old store leaves nothing pending; the next store's thread waits the new
    COUNTER_FLUSH_INTERVAL between its rounds."""
    settings.COUNTER_FLUSH_INTERVAL = 0.1
    store = get_store()
    store.hit(PAGE)
    settings.COUNTER_FLUSH_INTERVAL = 0.3
    assert durable() == 1
    store = get_store()
    assert type(store) is RedisStore
    store.start()
    assert_rounds_every(0.3, rounds_during(1.3))


def test_each_round_of_the_redis_store_sends_flushed_with_its_redis_client(redis_counter, redis_link, settings):
    """What else keeps copies in Redis (visitor counts) writes them to the database on the same
    beat; a round that fails sends nothing."""
    received = []

    def receiver(sender, client, **kwargs):
        received.append(client.connection_pool.connection_kwargs["port"])

    flushed.connect(receiver)
    try:
        settings.REDIS_URL = redis_link.url
        store = get_store()
        store.hit(PAGE)
        store.flush()
        assert received == [redis_link.port]
        redis_link.cut()
        with pytest.raises(redis.RedisError):
            store.flush()
        assert received == [redis_link.port]
    finally:
        flushed.disconnect(receiver)


def test_the_settings_of_the_engine_it_replaced_are_gone():
    """COUNTER_BACKEND chose a class and COUNTER_CEILING_AHEAD bounded the numbers shown; the
    engine reads neither, and settings do not define them."""
    assert not hasattr(django_settings, "COUNTER_BACKEND")
    assert not hasattr(django_settings, "COUNTER_CEILING_AHEAD")
    assert set(base.STORES) == {"database", "redis"}


COUNT_WITHOUT_REDIS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "herokuapp.settings"
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from counter.engine.base import get_store
print(type(get_store()).__name__, get_store().hit("page"), "redis" in sys.modules)
"""


@pytest.mark.slow
def test_an_app_that_counts_in_the_database_never_imports_redis_py(tmp_path):
    """Only the chosen store's module is imported: without Redis, redis-py is never loaded."""
    result = subprocess.run(
        [sys.executable, "-c", COUNT_WITHOUT_REDIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dyno_environment(SECRET_KEY="s" * 60, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["DatabaseStore", "1", "False"]
