"""No number shown runs below one shown before: Redis shows a number past the database's ceiling
only once it is raised, numbers taken in the database rise to the bounds, and Redis's numbers rise
to them when its state is recreated or outage views are merged into it. On real Redis and the
real database."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext

from counter import bounds
from counter import redis_scripts as keys
from counter.models import Counter
from counter.redis_counter import MAX_AHEAD, RedisCounter
from herokuapp.redis_client import get_redis
from tests.counter.records import row_held_elsewhere
from tests.counter.test_durability import bring_redis_back, take_redis_down

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def counter(redis_counter):
    return RedisCounter()


def row(name="page"):
    return Counter.objects.filter(name=name).values("redis_ceiling", "database_shown").get()


def redis_ceiling(name="page"):
    return int(get_redis().hget(keys.meta(name), "ceiling"))


def record_raises(monkeypatch):
    """The targets of the database raises of any counter's ceiling, in the order asked for."""
    asked = []
    raise_ceiling = bounds.raise_ceiling

    def recording(name, target):
        asked.append(target)
        return raise_ceiling(name, target)

    monkeypatch.setattr(bounds, "raise_ceiling", recording)
    return asked


def hold_raises(monkeypatch, of="page"):
    """Make each database raise of ``of``'s ceiling wait until ``release`` is set. Returns the
    targets asked for, an event set once a raise is held, and ``release``."""
    asked, holding, release = [], threading.Event(), threading.Event()
    raise_ceiling = bounds.raise_ceiling

    def held(name, target):
        if name == of:
            asked.append(target)
            holding.set()
            release.wait(30)
        return raise_ceiling(name, target)

    monkeypatch.setattr(bounds, "raise_ceiling", held)
    return asked, holding, release


def hit_in_a_thread(counter, name):
    """A view served by another thread, which closes its own database connection afterwards."""
    try:
        return counter.hit(name)
    finally:
        connection.close()


def test_a_number_past_redis_s_ceiling_is_shown_once_the_database_s_is_raised_past_it(counter):
    shown = [counter.hit("page") for _ in range(5)]
    assert shown == [1, 2, 3, 4, 5]
    assert row()["redis_ceiling"] == 6, "one view ahead of the last raise, as the tests' settings have it"
    assert redis_ceiling() == 6, "Redis's copy follows the database's"


def test_numbers_under_redis_s_copy_of_the_ceiling_cost_no_database_write(monkeypatch, counter):
    raises = record_raises(monkeypatch)
    counter.hit("page")
    assert raises == [2]
    with CaptureQueriesContext(connection) as under:
        assert counter.hit("page") == 2
    assert raises == [2] and under.captured_queries == []
    assert counter.hit("page") == 3
    assert raises == [2, 4]


def test_a_number_under_the_ceiling_this_process_raised_costs_no_write_while_redis_s_copy_lags(
    monkeypatch, settings, counter
):
    counter.hit("page")  # the ceiling is 2, in the database and in Redis
    counter.raised["page"] = (time.monotonic() - 1, -10)  # ten views a second: the next raise goes ahead
    settings.COUNTER_CEILING_AHEAD = 1
    raises = record_raises(monkeypatch)

    def redis_refuses(**kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(counter.client()[1], "raise_ceiling", redis_refuses)
    assert [counter.hit("page") for _ in range(2)] == [2, 3]
    raised = row()["redis_ceiling"]
    assert raises == [raised] and raised > 5 and redis_ceiling() == 2, (
        "the database's ceiling went ahead, Redis's copy stayed behind"
    )
    near = raised - counter.early["page"]
    assert near < raised, "a step of a dozen views: the next raise starts a quarter of it short"
    assert [counter.hit("page") for _ in range(near - 3)] == list(range(4, near + 1))
    assert raises == [raised], "past Redis's copy, but not near the ceiling this process raised"
    assert counter.hit("page") == near + 1
    assert len(raises) == 2 and row()["redis_ceiling"] > raised


def test_threads_that_pass_the_ceiling_together_raise_it_once(monkeypatch, settings, counter):
    """Until a raise reaches Redis's copy, every view passes it: one write, the others wait for it."""
    assert [counter.hit("page") for _ in range(2)] == [1, 2]  # the ceiling is 2
    counter.raised["page"] = (time.monotonic() - 1, -100)  # a hundred views a second: raises go far ahead
    settings.COUNTER_CEILING_AHEAD = 1
    raises, first_raising, let_it_finish = hold_raises(monkeypatch)
    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(hit_in_a_thread, counter, "page")
        assert first_raising.wait(10)
        others = [pool.submit(hit_in_a_thread, counter, "page") for _ in range(4)]
        deadline = time.monotonic() + 10
        while int(get_redis().get(keys.total("page"))) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # from Redis's answer to the ceiling: a few lines of Python
        let_it_finish.set()
        shown = sorted([first.result(10)] + [other.result(10) for other in others])
    assert shown == [3, 4, 5, 6, 7]
    assert len(raises) == 1, f"one raise covered every view, not one raise each: {raises}"
    assert row()["redis_ceiling"] == raises[0] >= 7


def test_a_view_near_the_ceiling_raises_it_while_the_views_under_it_are_shown_without_waiting(
    monkeypatch, settings, counter
):
    """At a steady rate the raise is sent a quarter of a step early, so no view waits for it but
    the one that sends it."""
    assert [counter.hit("page") for _ in range(2)] == [1, 2]  # the ceiling is 2
    counter.raised["page"] = (time.monotonic() - 1, -100)  # a hundred views a second: raises go far ahead
    settings.COUNTER_CEILING_AHEAD = 1
    counter.hit("page")
    ceiling, early = row()["redis_ceiling"], counter.early["page"]
    assert early == (ceiling - 3) // 4 > 0, "a quarter of the step the raise took past view 3"
    assert [counter.hit("page") for _ in range(ceiling - early - 3)] == list(range(4, ceiling - early + 1))
    raises, raising, let_it_finish = hold_raises(monkeypatch)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sending = pool.submit(hit_in_a_thread, counter, "page")
        assert raising.wait(10), "the first view within a quarter of a step of the ceiling raises it"
        try:
            started = time.monotonic()
            assert [counter.hit("page") for _ in range(early - 1)] == list(range(ceiling - early + 2, ceiling + 1))
            assert time.monotonic() - started < 5, "the views under the ceiling did not wait for its raise"
            assert len(raises) == 1, "one raise, from the view that came near the ceiling first"
        finally:
            let_it_finish.set()
        assert sending.result(10) == ceiling - early + 1
    assert row()["redis_ceiling"] == redis_ceiling() == raises[0] > ceiling


def test_a_counter_s_raise_does_not_wait_for_another_counter_s(monkeypatch, counter):
    _, raising_page, let_it_finish = hold_raises(monkeypatch)
    with ThreadPoolExecutor(max_workers=2) as pool:
        page = pool.submit(hit_in_a_thread, counter, "page")
        assert raising_page.wait(10)
        try:
            other = pool.submit(hit_in_a_thread, counter, "other")
            assert other.result(5) == 1, "another counter's view is shown while the page's raise hangs"
            assert row("other")["redis_ceiling"] == 2
        finally:
            let_it_finish.set()
        assert page.result(10) == 1


def test_the_ceiling_goes_ahead_by_the_views_of_counter_ceiling_ahead_seconds(settings, counter):
    settings.COUNTER_CEILING_AHEAD = 0.1
    assert counter._views_ahead("page", 100, now=5.0) == 1, "a first raise goes one view ahead"
    counter.raised["page"] = (5.0, 100)
    assert counter._views_ahead("page", 300, now=6.0) == 20, "200 views a second: 20 views in 0.1 s"
    assert counter._views_ahead("page", 103, now=5.001) == 3, (
        "three views in a millisecond are measured over 0.1 s: a burst takes no big step"
    )
    assert counter._views_ahead("page", 10**9, now=6.0) == MAX_AHEAD
    settings.COUNTER_CEILING_AHEAD = 0
    assert counter._views_ahead("page", 300, now=6.0) == 1


def test_the_rate_is_measured_from_a_raise_at_least_counter_ceiling_ahead_seconds_old(settings, counter):
    settings.COUNTER_CEILING_AHEAD = 10
    counter.hit("page")  # the first raise: one view ahead, to 2
    first = counter.raised["page"]
    for _ in range(5):
        counter.hit("page")
    assert counter.raised["page"] == first, "raises less than 10 s later measure from the first"
    assert row()["redis_ceiling"] == 11, "3 raised it by the 2 views since the first raise, to 5; 6 by 5, to 11"
    counter.raised["page"] = (first[0] - 10, first[1])  # ten seconds on
    for _ in range(6):
        counter.hit("page")
    assert counter.raised["page"][1] == 11, (
        "the raise at 11, within a quarter of the last step (5 views) of the ceiling, is the one measured from next"
    )


def test_a_process_counting_in_the_database_numbers_above_what_redis_showed_another(settings, counter):
    """When Redis stops answering, the views Redis showed are not in the database yet, nor
    reported by the process that saw them: the ceiling bounds them."""
    other = RedisCounter()
    shown = [counter.hit("page") for _ in range(5)]
    take_redis_down(settings, other)
    first = other.hit("page")
    assert first >= max(shown), f"{first} shown from the database after {max(shown)} from Redis"
    assert first == row()["redis_ceiling"] == 6
    assert [other.hit("page") for _ in range(2)] == [6, 6], (
        "the database knows of 3 views: the same number until the count passes it, never a lower one"
    )
    assert row()["database_shown"] == 6


def test_when_redis_comes_back_empty_its_numbers_start_above_every_number_shown(settings, counter):
    """Views numbered in the database during the outage and views Redis lost with its data are
    both below the floor the recreated state starts from."""
    other = RedisCounter()
    for _ in range(5):
        counter.hit("page")
    live = take_redis_down(settings, other)
    highest = max(other.hit("page") for _ in range(3))
    bring_redis_back(settings, other, live)
    get_redis().flushdb()  # Redis restarts empty: the five views it held are gone
    assert RedisCounter().hit("page") >= highest, "a process that saw none of it"
    assert int(get_redis().hget(keys.meta("page"), "floor")) == highest


def test_outage_views_merged_into_redis_raise_its_floor(settings, counter):
    """A Redis that was only unreachable comes back with its data: its total lacks the outage
    views, and the numbers shown for them may lead the count (they rose to the ceiling)."""
    settings.COUNTER_CEILING_AHEAD = 10
    counter.hit("page")  # the ceiling is 2
    counter.raised["page"] = (time.monotonic(), -1000)  # as if views had come fast: the ceiling goes well ahead
    counter.hit("page")
    counter.hit("page")
    ahead = row()["redis_ceiling"]
    assert ahead > 10
    live = take_redis_down(settings, counter)
    assert counter.hit("page") == ahead
    bring_redis_back(settings, counter, live)
    counter.flush()
    assert int(get_redis().hget(keys.meta("page"), "floor")) == ahead
    assert RedisCounter().hit("page") == ahead, "another process's next number from Redis"
    assert int(get_redis().get(keys.total("page"))) == 5, "Redis's total is still the count"


def test_reading_the_count_shows_no_less_than_the_floor(settings, counter):
    for _ in range(5):
        counter.hit("page")
    get_redis().flushdb()
    fresh = RedisCounter()
    fresh.hit("other")  # Redis answers again; "page" is recreated on its next view
    assert fresh.hit("page") == 6
    assert RedisCounter().get("page") == 6
    take_redis_down(settings, fresh)
    assert RedisCounter().get("page") >= 6, "from the database while Redis is away"


def test_a_database_that_cannot_raise_the_ceiling_does_not_stop_the_page(monkeypatch, counter):
    asked = []

    def database_down(name, target):
        asked.append(target)
        raise OperationalError("connection refused")

    counter.hit("page")  # the ceiling is 2
    monkeypatch.setattr(bounds, "raise_ceiling", database_down)
    assert [counter.hit("page") for _ in range(3)] == [2, 3, 4], "Redis's numbers are shown all the same"
    assert asked == [4], "after one failure the page does not wait on the database for a back-off"
    monkeypatch.undo()
    counter.database_breaker.clock = lambda: float("inf")  # the back-off is over
    assert counter.hit("page") == 5
    assert row()["redis_ceiling"] >= 5, "the next raise covers the numbers shown meanwhile"


through_libpq = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only on PostgreSQL is the ceiling raised through libpq: bin/test's second pass runs this",
)


@through_libpq
def test_a_database_that_does_not_answer_holds_the_page_no_longer_than_the_ceiling_s_timeout(counter):
    counter.hit("page")
    with row_held_elsewhere("page"):
        with pytest.raises(DatabaseError, match="did not answer"):
            bounds.raise_ceiling("page", 50)
        assert connection.connection is None, "the connection that may still answer later is dropped"
    assert bounds.raise_ceiling("page", 50) == 50, "the next raise opens a new connection"
