"""A process forgets what it keeps per counter once the database holds it in full, and loses
nothing by it: against real PostgreSQL (or SQLite) and Redis."""

import logging
import time
import uuid

import pytest
from django.db import DatabaseError

from counter import hit_ids, redis_counter
from counter.forgetting import held_in_full
from counter.models import OutageView, UncertainHit
from counter.redis_counter import RedisCounter
from herokuapp.redis_client import get_redis

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def counter(redis_counter):
    return RedisCounter()


def kept(counter):
    return set(counter.shown) | set(counter.seen)


def test_a_counter_whose_views_all_reached_the_database_is_forgotten(counter):
    for _ in range(3):
        counter.hit("flushed")
    counter.hit("pending")
    counter.flush()
    counter.hit("pending")  # only Redis holds this view yet
    assert counter.forget_held_in_full() == 1
    assert kept(counter) == {"pending"}
    counter.flush()
    assert counter.forget_held_in_full() == 1
    assert kept(counter) == set()


def test_a_forgotten_counter_carries_on_from_the_database_when_redis_loses_everything(counter):
    for _ in range(4):
        counter.hit("page")
    counter.flush()
    counter.forget_held_in_full()
    get_redis().flushdb()
    assert counter.hit("page") == 5


def test_a_forgotten_counter_numbered_in_the_database_during_an_outage_goes_on_from_its_count(settings, counter):
    for _ in range(4):
        counter.hit("page")
    counter.flush()
    counter.forget_held_in_full()
    settings.REDIS_URL = DEAD_REDIS
    assert counter.hit("page") == 5


def test_nothing_is_forgotten_while_redis_is_away(settings, counter):
    counter.hit("page")
    counter.flush()
    settings.REDIS_URL = DEAD_REDIS
    counter.hit("page")  # counted in the database; the breaker opens
    assert counter.forget_held_in_full() == 0
    assert kept(counter) == {"page"}


def test_nothing_is_forgotten_just_after_redis_returns(settings, counter):
    live = settings.REDIS_URL
    counter.hit("page")
    counter.flush()
    settings.REDIS_URL = DEAD_REDIS
    counter.hit("page")
    settings.REDIS_URL = live
    counter.breaker.open_until = 0.0  # the back-off is over: the next view probes Redis
    counter.hit("page")
    counter.flush()
    assert counter._rejoining()
    assert counter.forget_held_in_full() == 0
    counter.rejoining_until = 0.0
    assert counter.forget_held_in_full() == 1


def test_a_counter_shown_above_what_the_database_holds_is_kept():
    assert held_in_full({"page": (7, None)}) == []
    OutageView.objects.create(outage=uuid.uuid4(), name="page", views=7)
    assert held_in_full({"page": (7, None)}) == ["page"]


def test_a_counter_seen_in_a_generation_the_database_has_left_is_kept(counter):
    counter.hit("page")
    counter.flush()
    seen = counter.seen["page"]
    assert held_in_full({"page": (1, seen)}) == ["page"]
    assert held_in_full({"page": (1, (seen[0] - 1, seen[1]))}) == [], "its views may be for RESTORE to bring back"


def test_names_are_looked_up_in_chunks(counter, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr("counter.forgetting.CHUNK", 2)
    for name in "abcde":
        counter.hit(name)
    counter.flush()
    with django_assert_max_num_queries(6):  # 3 chunks, a query for the rows and one for outage views each
        assert counter.forget_held_in_full() == 5


def test_a_counter_shown_again_while_the_database_was_asked_is_kept(counter, monkeypatch):
    counter.hit("page")
    counter.flush()

    def asked_while_shown_again(state):
        counter.hit("page")
        return held_in_full(state)

    monkeypatch.setattr(redis_counter, "held_in_full", asked_while_shown_again)
    assert counter.forget_held_in_full() == 0
    assert counter.shown["page"] == 2


def test_past_the_names_kept_a_view_has_the_process_forget_in_the_background(counter, monkeypatch):
    monkeypatch.setattr(redis_counter, "NAMES_KEPT", 5)
    for name in "abcdef":
        counter.hit(name)
    counter.flush()
    counter.hit("g")  # the first view once a name too many is kept; "g" is not in the database yet
    deadline = time.monotonic() + 10
    while kept(counter) != {"g"} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kept(counter) == {"g"}


def looks(counter, monkeypatch):
    """Record each time the process starts looking for counters to forget."""
    started = []
    look = counter._forget_in_background

    def recorded():
        started.append(time.monotonic())
        look()

    monkeypatch.setattr(counter, "_forget_in_background", recorded)
    return started


def finished_looking(counter):
    deadline = time.monotonic() + 10
    while counter._forgetting.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not counter._forgetting.locked()


def test_the_process_looks_again_only_after_forget_every_seconds(counter, monkeypatch):
    monkeypatch.setattr(redis_counter, "NAMES_KEPT", 1)
    started = looks(counter, monkeypatch)
    for name in "abc":
        counter.hit(name)  # "c" finds one name too many before anything is in the database
    assert finished_looking(counter)
    counter.flush()
    counter.hit("d")
    assert finished_looking(counter)
    assert len(started) == 1 and {"a", "b", "c"} <= kept(counter)
    counter._forget_due = 0.0  # FORGET_EVERY seconds later
    counter.hit("e")
    assert finished_looking(counter)
    assert len(started) == 2 and kept(counter) == {"d", "e"}


@pytest.mark.parametrize(
    "error, logged",
    [
        (
            DatabaseError("connection refused"),
            ("WARNING", "could not look up which counters the database holds in full: connection refused"),
        ),
        (RuntimeError("a bug"), ("ERROR", "could not forget the counters the database holds in full")),
    ],
)
def test_a_look_up_that_fails_is_logged_and_the_next_look_can_run(counter, monkeypatch, caplog, error, logged):
    monkeypatch.setattr(redis_counter, "NAMES_KEPT", 1)

    def failing(state):
        raise error

    monkeypatch.setattr(redis_counter, "held_in_full", failing)
    for name in "abc":
        counter.hit(name)
    assert finished_looking(counter)
    problems = [(record.levelname, record.getMessage()) for record in caplog.records if record.levelno >= logging.WARNING]
    assert problems == [logged], "one line each, a warning for a database away and an error for anything else"
    assert kept(counter) == {"a", "b", "c"}
    monkeypatch.setattr(redis_counter, "held_in_full", held_in_full)
    counter.flush()
    counter._forget_due = 0.0
    counter.hit("d")
    assert finished_looking(counter)
    assert kept(counter) == {"d"}


def count_during_an_outage(settings, counter, name):
    """Count one view of ``name`` in the database, as while Redis is away, then let Redis answer."""
    live = settings.REDIS_URL
    settings.REDIS_URL = DEAD_REDIS
    counter.hit(name)
    settings.REDIS_URL = live


def test_a_counter_counted_in_an_outage_and_not_viewed_since_is_forgotten_once_a_round_merged_it(settings, counter):
    counter.hit("page")
    counter.flush()
    count_during_an_outage(settings, counter, "page")
    counter.flush()  # the round that finds Redis back merges the outage view; nobody views the page again
    assert "page" in counter.unmerged_outage, "until the while after the return is over"
    counter.rejoining_until = 0.0
    counter.flush()
    assert "page" not in counter.unmerged_outage
    assert counter.forget_held_in_full() == 1
    assert counter.hit("page") == 3


def test_an_outage_view_committed_after_the_round_began_waits_for_the_next_round(settings, counter, monkeypatch):
    counter.hit("page")
    counter.flush()
    flush_once = redis_counter.flush_once

    def a_view_counted_in_the_database_as_the_round_ends(*args, **kwargs):
        result = flush_once(*args, **kwargs)
        count_during_an_outage(settings, counter, "page")
        return result

    monkeypatch.setattr(redis_counter, "flush_once", a_view_counted_in_the_database_as_the_round_ends)
    counter.flush()
    assert "page" in counter.unmerged_outage, "this round did not merge that view"
    monkeypatch.setattr(redis_counter, "flush_once", flush_once)
    counter.rejoining_until = 0.0
    counter.flush()
    assert "page" not in counter.unmerged_outage
    assert counter.hit("page") == 3


def test_a_counter_with_an_outage_view_in_doubt_stays_unmerged_until_it_is_settled(counter):
    counter.hit("page")
    counter.flush()
    counter._hit_in_database("page", uncertain=hit_ids.new())  # Redis may yet count it
    counter.flush()
    assert "page" in counter.unmerged_outage
    UncertainHit.objects.update(created="2000-01-01T00:00:00Z")
    counter.flush()  # settled: Redis never counted it, so it stays in its outage row and merges
    assert "page" not in counter.unmerged_outage
    assert counter.hit("page") == 3

