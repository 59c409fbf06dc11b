"""The Redis counter keeps the database as its durable record: every view reaches it exactly
once, a total Redis lost is recreated, and an unreachable Redis neither loses views nor stops
the page. Each test runs on real Redis and the real database."""

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from counter import flusher, hit_ids
from counter import redis_scripts as keys
from counter.backends import CounterUnavailable
from counter.models import Counter, FlushedBatch, OutageView
from counter.redis_counter import RedisCounter
from herokuapp.redis_client import get_redis
from tests.counter.records import durable_total

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def counter(redis_counter):
    return RedisCounter()


def redis_total(name="page"):
    value = get_redis().get(keys.total(name))
    return None if value is None else int(value)


def durable(name="page"):
    return durable_total(name)


def take_a_batch(counter, batch):
    """What a flush round does before it writes the batch to the database."""
    _, scripts = counter.client()
    return flusher.parse_batch(scripts.take_batch(keys=[keys.DIRTY, keys.inflight(batch)], args=[keys.PREFIX]))


def take_redis_down(settings, counter, url=DEAD_REDIS):
    """Point the app at a Redis that is not there (the real one keeps its data meanwhile)."""
    live = settings.REDIS_URL
    settings.REDIS_URL = url
    return live


def bring_redis_back(settings, counter, url):
    settings.REDIS_URL = url
    counter.breaker.succeeded()


def test_views_counted_in_redis_reach_the_database_on_flush(counter):
    for _ in range(5):
        counter.hit("page")
    assert durable() == 0
    assert counter.flush() == (5, 0)
    assert durable() == 5
    assert counter.flush() == (0, 0)
    assert durable() == 5


def test_a_batch_added_to_the_database_but_left_in_redis_is_not_added_again(counter):
    for _ in range(3):
        counter.hit("page")
    client, _ = counter.client()
    batch = "0f0e0d0c-0b0a-0908-0706-050403020100"
    flusher.apply_batch(batch, take_a_batch(counter, batch))  # the process died before deleting the in-flight hash
    counter.flush()
    assert durable() == 3
    assert not client.exists(keys.inflight(batch))


def test_a_batch_taken_from_redis_but_never_written_is_written_by_the_next_flush(counter):
    for _ in range(4):
        counter.hit("page")
    batch = "1f0e0d0c-0b0a-0908-0706-050403020100"
    take_a_batch(counter, batch)  # then the process died
    counter.flush()
    assert durable() == 4
    assert FlushedBatch.objects.filter(batch=batch).exists()


def test_when_redis_comes_back_empty_the_count_carries_on_from_the_database(counter):
    for _ in range(7):
        counter.hit("page")
    counter.flush()
    get_redis().flushdb()
    assert counter.hit("page") == 8
    counter.flush()
    assert durable() == 8


def test_a_total_evicted_with_views_still_pending_is_recreated_with_them(counter):
    for _ in range(5):
        counter.hit("page")
    counter.flush()
    for _ in range(3):
        counter.hit("page")
    get_redis().delete(keys.total("page"))  # evicted; the 3 pending views are still in Redis
    assert counter.hit("page") == 9
    counter.flush()
    assert durable() == 9


def test_while_redis_is_down_views_are_recorded_in_the_database_and_shown(settings, counter):
    for _ in range(5):
        counter.hit("page")
    counter.flush()
    live = take_redis_down(settings, counter)
    shown = [counter.hit("page") for _ in range(3)]
    assert shown == [6, 7, 8]
    assert OutageView.objects.get().views == 3
    assert durable() == 8
    bring_redis_back(settings, counter, live)


def test_outage_views_are_merged_into_redis_exactly_once_when_it_returns(settings, counter):
    for _ in range(5):
        counter.hit("page")
    counter.flush()
    live = take_redis_down(settings, counter)
    for _ in range(3):
        counter.hit("page")
    bring_redis_back(settings, counter, live)
    assert counter.flush() == (0, 3)
    assert counter.flush() == (0, 0)
    assert redis_total() == 8
    assert counter.hit("page") == 9
    counter.flush()
    assert durable() == 9


def test_the_first_views_after_an_outage_follow_the_outage_numbers_each_shown_once(settings, counter):
    """No flusher round runs in between: the process merges its outage views before counting in Redis."""
    for _ in range(5):
        counter.hit("page")
    for _ in range(2):
        counter.hit("page")  # 7 shown, 2 of them still pending in Redis
    live = take_redis_down(settings, counter)
    during = [counter.hit("page") for _ in range(3)]
    bring_redis_back(settings, counter, live)
    after = [counter.hit("page") for _ in range(3)]
    assert during == [8, 9, 10]  # the database holds 3, but Redis showed 7 and still holds those
    assert after == [11, 12, 13]
    assert redis_total() == 13
    counter.flush()
    assert durable() == 13


def test_outage_views_count_once_when_redis_returns_empty(settings, counter):
    for _ in range(5):
        counter.hit("page")
    counter.flush()
    live = take_redis_down(settings, counter)
    for _ in range(3):
        counter.hit("page")
    bring_redis_back(settings, counter, live)
    get_redis().flushdb()
    assert counter.hit("page") == 9
    counter.flush()
    assert redis_total() == 9
    assert durable() == 9


def test_views_redis_lost_before_a_flush_are_restored_by_the_process_that_saw_them(counter):
    for _ in range(5):
        counter.hit("page")
    counter.flush()
    shown = [counter.hit("page") for _ in range(3)]  # 6, 7, 8: not in the database yet
    get_redis().flushdb()  # Redis restarts without persistence
    after = [counter.hit("page") for _ in range(2)]
    assert shown == [6, 7, 8]
    assert after == [9, 10]
    counter.flush()
    assert durable() == 10


def test_every_process_restores_what_it_saw_and_no_view_counts_twice(counter):
    first, second = counter, RedisCounter()
    for _ in range(3):
        first.hit("page")
    first.flush()
    shown = [second.hit("page") for _ in range(2)] + [first.hit("page")]  # 4, 5, 6 pending in Redis
    get_redis().flushdb()
    second_after = second.hit("page")
    first_after = first.hit("page")
    assert shown == [4, 5, 6]
    assert second_after > 5 and first_after > 6, "neither process shows a number below its own last one"
    assert second.hit("page") > max(shown), "once both restored, Redis's numbers carry on above every one shown"
    first.flush()
    assert durable() == 9


def test_a_flusher_round_restores_what_its_process_saw_without_waiting_for_a_view(counter):
    other = RedisCounter()
    counter.flush()  # a round notes Redis's epoch
    shown = [counter.hit("page") for _ in range(5)]
    get_redis().flushdb()
    # The other process knows of no view before the loss, but the ceiling raised for them does.
    assert other.hit("page") == max(shown) + 1
    counter.flush()
    assert other.hit("page") > max(shown)
    counter.flush()
    assert durable() == 7


def test_a_batch_written_after_its_generation_ended_is_restored_not_added_twice(counter):
    for _ in range(4):
        counter.hit("page")
    client, scripts = counter.client()
    batch = "2f0e0d0c-0b0a-0908-0706-050403020100"
    taken = take_a_batch(counter, batch)
    client.flushdb()  # Redis restarts while the batch is on its way to the database
    RedisCounter().hit("page")  # another process recreates the total without the batch
    late = flusher.apply_batch(batch, taken)
    assert late == {"page": (4, 4, 1)}
    flusher.restore_late(scripts, late)
    counter.flush()
    assert durable() == 5


def test_a_view_of_uncertain_standing_when_redis_lost_everything_counts_once(counter):
    from counter.models import UncertainHit

    for _ in range(3):
        counter.hit("page")
    hit = hit_ids.new()
    counter._hit_in_redis("page", hit)  # Redis counts view 4, but the reply is lost...
    counter._hit_in_database("page", uncertain=hit)  # ...so the app counts it in the database too
    get_redis().flushdb()  # and Redis loses everything, its list of recent hits included
    counter.hit("page")
    UncertainHit.objects.update(created="2000-01-01T00:00:00Z")
    counter.flush()
    counter.flush()
    assert not UncertainHit.objects.exists()
    assert durable() == 5


def test_views_lost_twice_before_anyone_restores_them_are_not_invented(counter):
    other = RedisCounter()
    shown = [counter.hit("page") for _ in range(3)]
    get_redis().flushdb()
    other.hit("page")
    get_redis().flushdb()  # the generation this process saw is two losses back: nothing to restore
    after = counter.hit("page")
    counter.flush()
    assert after > max(shown), "its numbers still rise"
    assert durable() == 1, "only the view counted since"
    other.flush()  # the other process restores the view it saw in the generation in between
    assert durable() == 2


def test_shown_counts_never_go_back_when_redis_goes_down_with_views_pending(settings, counter):
    for _ in range(5):
        counter.hit("page")
    counter.flush()
    for _ in range(2):
        counter.hit("page")  # 7 shown; 2 views not yet in the database
    live = take_redis_down(settings, counter)
    assert counter.hit("page") >= 7
    bring_redis_back(settings, counter, live)


def test_a_process_counting_in_the_database_numbers_above_what_another_saw_redis_count(settings, counter):
    other = RedisCounter()
    for _ in range(3):
        counter.hit("page")
    assert [other.hit("page") for _ in range(2)] == [4, 5]  # none of the 5 is in the database yet
    live = take_redis_down(settings, counter)
    assert other.hit("page") == 6, "the outage view follows what Redis showed that process"
    assert counter.hit("page") == 7, "this process saw Redis count only 3, yet numbers above the 6 shown"
    bring_redis_back(settings, counter, live)
    other.breaker.succeeded()
    assert counter.hit("page") == 8
    assert other.hit("page") == 9
    counter.flush()
    assert durable() == 9


def test_redis_back_empty_starts_from_the_views_processes_reported_seeing(settings, counter):
    for _ in range(3):
        counter.hit("page")
    counter.flush()
    for _ in range(4):
        counter.hit("page")  # 4, 5, 6, 7: only Redis holds them
    live = take_redis_down(settings, counter)
    assert counter.hit("page") == 8, "numbered above the 7 it saw, which it reports"
    settings.REDIS_URL = live
    get_redis().flushdb()  # Redis comes back empty
    other = RedisCounter()  # a process that never saw Redis count, and that nothing has restored to
    assert other.hit("page") == 9, "the new total holds the 4 views reported seen, before any restore"
    assert redis_total() == 9
    other.flush()
    assert durable() == 9


def test_a_process_still_counting_in_the_database_numbers_above_views_redis_counted_since_it_returned(
    settings, counter
):
    behind = RedisCounter()
    for _ in range(3):
        counter.hit("page")
    live = take_redis_down(settings, counter)
    assert counter.hit("page") == 4
    assert behind.hit("page") == 5
    bring_redis_back(settings, counter, live)  # for this process; the other's breaker stays open
    counter._rejoined()
    assert [counter.hit("page") for _ in range(2)] == [6, 7]
    assert not behind.breaker.allow()
    assert behind.hit("page") == 8, "numbered above the views Redis counted, which the other process reported"
    assert counter.hit("page") == 9, "and Redis's numbers follow the outage views of the process still away"
    counter.flush()
    assert durable() == 9


def test_after_the_return_window_redis_numbers_views_on_its_own(settings, counter):
    for _ in range(2):
        counter.hit("page")
    live = take_redis_down(settings, counter)
    counter.hit("page")
    bring_redis_back(settings, counter, live)
    counter.hit("page")  # merges the outage view first
    counter._rejoined()
    counter.flush()  # the round that must follow the return
    with CaptureQueriesContext(connection) as during:
        assert counter.hit("page") == 5
    statements = [query["sql"] for query in during.captured_queries if not query["sql"].startswith(("BEGIN", "COMMIT"))]
    assert statements[0].startswith("UPDATE") and "seen_seq" in statements[0], (
        "within the window it locks the counter's row by reporting how far it saw Redis count"
    )
    assert len(statements) == 4, "then reads the outage views, records the number, reads whether any is in doubt"
    assert "database_shown" in statements[2], "the number is recorded as the highest shown from the database"
    counter.rejoining_until = time.monotonic()
    assert counter.hit("page") == 6  # raises Redis's ceiling, which the window's numbers left behind
    with CaptureQueriesContext(connection) as after:
        assert counter.hit("page") == 7
    assert after.captured_queries == []


def test_views_counted_in_the_database_by_many_threads_at_once_each_get_their_own_number(settings, counter):
    other = RedisCounter()
    take_redis_down(settings, counter)

    def serve(process):
        try:
            return [process.hit("page") for _ in range(10)]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        shown = [number for numbers in pool.map(serve, [counter, other] * 4) for number in numbers]
    assert sorted(shown) == list(range(1, 81)), "no number shown twice, none skipped"
    assert durable() == 80


def test_a_row_that_catches_up_with_a_new_generation_forgets_what_was_seen_of_the_old(counter):
    Counter.objects.create(name="page", views=10, generation=1, flushed_seq=4, seen_seq=9)
    assert flusher.counted_total("page") == 15, "the 5 views processes saw Redis count past the 4 flushed"
    with transaction.atomic():
        assert flusher.add_batch_views("page", 3, 3, 2), "a batch of generation 2, whose seed left no trace here"
    row = Counter.objects.get(name="page")
    assert (row.views, row.generation, row.flushed_seq, row.seen_seq) == (13, 2, 3, 0)
    assert flusher.counted_total("page") == 13
    assert flusher.counted_total("page", seen=(2, 5)) == 15


def test_numbering_in_the_database_after_a_return_waits_for_the_hits_redis_did_count_to_be_settled(counter):
    for _ in range(5):
        counter.hit("page")
    hit = hit_ids.new()
    counter._hit_in_redis("page", hit)  # Redis counts view 6 as it stalls; the reply never comes
    counter._hit_in_database("page", uncertain=hit)  # so the view is counted in an outage row too
    returning = RedisCounter()
    returning._rejoined()
    assert returning.hit("page") == 7, "not 8: the hit was settled before the view was numbered"
    assert returning.hit("page") == 8
    counter.flush()
    assert durable() == 8


def test_with_the_database_down_after_a_return_redis_numbers_views_without_waiting_on_it(
    settings, counter, monkeypatch
):
    for _ in range(3):
        counter.hit("page")
    counter._rejoined()
    asked = []

    def database_down(*args, **kwargs):
        from django.db import OperationalError

        asked.append(True)
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", database_down)
    connection.close()
    assert counter.hit("page") == 4, "Redis's number, the database being down"
    assert asked and not counter._rejoining(), "the window ends"
    asked.clear()
    assert counter.hit("page") == 5
    assert not asked, "the next view does not wait on the database"


def test_a_view_numbered_at_its_place_in_redis_leaves_out_the_views_redis_counted_after_it(counter):
    Counter.objects.create(name="page", views=10, generation=1, flushed_seq=4, seen_seq=9)
    with transaction.atomic():
        assert flusher.counted_total("page", (1, 7), lock=True, at_place=True) == 13
        assert flusher.counted_total("page", (1, 7), lock=True) == 15, "without: as far as any process saw"
        assert flusher.counted_total("page", (1, 12), lock=True, at_place=True) == 18
    assert Counter.objects.get(name="page").seen_seq == 12, "each reports its place, the furthest kept"


def test_the_flusher_brings_a_process_back_to_redis_as_soon_as_it_answers(settings, counter):
    for _ in range(5):
        counter.hit("page")
    live = take_redis_down(settings, counter)
    during = [counter.hit("page") for _ in range(2)]
    assert counter.flush() is None, "the probe finds Redis still down"
    settings.REDIS_URL = live  # Redis answers again, long before the breaker's back-off ends
    assert not counter.breaker.is_closed
    assert counter.flush() is not None
    assert counter.breaker.is_closed
    after = counter.hit("page")
    assert during == [6, 7]
    assert after == 8 and redis_total() == 8, "counted in Redis again, after the outage views"
    counter.flush()
    assert durable() == 8


def test_a_dead_redis_costs_one_timeout_then_the_page_counts_fast(settings, counter):
    """A server that accepts connections and never answers: the worst kind of dead."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(100)
        live = take_redis_down(settings, counter, f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            counter.hit("page")
            timings.append(time.perf_counter() - started)
    bring_redis_back(settings, counter, live)
    assert max(timings) < 1.0
    assert sum(timings[1:]) < 0.5, "after the first timeout the breaker skips Redis"
    assert durable() == 20


def test_with_redis_and_the_database_both_down_counting_is_refused_not_hung(settings, counter, monkeypatch):
    take_redis_down(settings, counter)

    def database_down(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", database_down)
    connection.close()
    started = time.perf_counter()
    with pytest.raises(CounterUnavailable):
        counter.hit("page")
    assert time.perf_counter() - started < 1.0


def test_old_outage_rows_are_compacted_into_the_counter_row(settings, counter):
    live = take_redis_down(settings, counter)
    for _ in range(4):
        counter.hit("page")
    bring_redis_back(settings, counter, live)
    counter.flush()
    OutageView.objects.update(created="2000-01-01T00:00:00Z")
    flusher.compact_outage_views()
    assert not OutageView.objects.exists()
    assert Counter.objects.get(name="page").views == 4
    assert durable() == 4
    assert counter.flush() == (0, 0)


def test_flush_counters_command_writes_pending_views_to_the_database(counter, capsys):
    from django.core.management import call_command

    for _ in range(3):
        counter.hit("page")
    call_command("flush_counters")
    assert "flushed=3 merged=0" in capsys.readouterr().out
    assert durable() == 3


def test_flush_counters_loop_keeps_flushing_after_a_round_fails(settings, counter, monkeypatch, capsys):
    from django.core.management import call_command

    for _ in range(3):
        counter.hit("page")
    live = take_redis_down(settings, counter)  # the first round cannot reach Redis
    rounds = []

    def between_rounds(seconds):
        rounds.append(seconds)
        if len(rounds) == 1:
            settings.REDIS_URL = live
        else:
            os.kill(os.getpid(), signal.SIGTERM)  # as Heroku stops the worker

    monkeypatch.setattr("counter.management.commands.flush_counters.time.sleep", between_rounds)
    handler = signal.getsignal(signal.SIGTERM)
    call_command("flush_counters", "--loop", "--interval", "0.5")
    assert rounds == [0.5, 0.5], "a failed round, then a round that flushed, then SIGTERM"
    assert capsys.readouterr().out.splitlines() == ["flushed=3 merged=0"]
    assert durable() == 3
    assert signal.getsignal(signal.SIGTERM) is handler


def test_flush_counters_says_in_one_line_why_a_single_flush_failed(settings, counter):
    from django.core.management import CommandError, call_command

    take_redis_down(settings, counter)
    with pytest.raises(CommandError, match="could not flush: .*127.0.0.1:1"):
        call_command("flush_counters")


def test_flush_counters_command_has_nothing_to_do_without_redis(database_counter, capsys):
    from django.core.management import call_command

    call_command("flush_counters")
    assert "Nothing to flush" in capsys.readouterr().out


def test_a_view_whose_redis_reply_was_lost_counts_once_when_redis_did_count_it(settings, counter):
    """Redis ran the script but the reply never came (a paused server, a dropped connection)."""
    from counter.models import UncertainHit

    for _ in range(5):
        counter.hit("page")
    hit = hit_ids.new()
    counter._hit_in_redis("page", hit)  # Redis counts view 6...
    counter._hit_in_database("page", uncertain=hit)  # ...and the app, hearing nothing, counts it again
    assert counter.flush() == (6, 0), "Redis knows the hit: settled at once, nothing left to merge"
    assert not UncertainHit.objects.exists()
    assert OutageView.objects.get().views == 0
    assert redis_total() == 6
    assert durable() == 6


def test_an_uncertain_hit_judged_by_two_flushers_at_once_is_taken_out_once(counter):
    """A flusher whose lock expired while it waited on the database, and the next lock holder."""
    for _ in range(5):
        counter.hit("page")
    hit = hit_ids.new()
    counter._hit_in_redis("page", hit)  # Redis counts view 6, but the reply is lost
    counter._hit_in_database("page", uncertain=hit)
    client, _ = counter.client()
    first, second = flusher.settleable_hits(client), flusher.settleable_hits(client)
    for verdicts in (first, second):
        with transaction.atomic():
            flusher.settle_uncertain_hits(verdicts)
    assert OutageView.objects.get().views == 0
    counter.flush()
    assert durable() == 6


def test_a_view_whose_redis_call_never_ran_is_kept_in_the_outage_row(settings, counter):
    from counter.models import UncertainHit

    for _ in range(5):
        counter.hit("page")
    counter.flush()
    counter._hit_in_database("page", uncertain=hit_ids.new())  # timed out; Redis never saw it
    assert counter.flush() == (0, 0), "the call may still reach a stalled Redis: the view waits"
    assert UncertainHit.objects.exists()
    UncertainHit.objects.update(created="2000-01-01T00:00:00Z")
    assert counter.flush() == (0, 1)
    assert not UncertainHit.objects.exists()
    assert redis_total() == 6
    assert durable() == 6


def test_the_other_views_of_an_outage_row_merge_while_one_hit_is_in_doubt(settings, counter):
    from counter.models import UncertainHit

    for _ in range(5):
        counter.hit("page")
    counter.flush()
    counter._hit_in_database("page", uncertain=hit_ids.new())  # timed out; Redis never saw it
    live = take_redis_down(settings, counter)
    for _ in range(3):
        counter.hit("page")  # the same outage row
    bring_redis_back(settings, counter, live)
    assert counter.flush() == (0, 3), "the three certain views merge now"
    assert redis_total() == 8
    UncertainHit.objects.update(created="2000-01-01T00:00:00Z")
    assert counter.flush() == (0, 1), "the hit in doubt, once settled"
    assert redis_total() == 9
    assert durable() == 9


def test_a_refused_connection_is_certain_not_to_have_counted(settings, counter):
    from counter.models import UncertainHit

    counter.hit("page")
    live = take_redis_down(settings, counter)
    counter.hit("page")
    bring_redis_back(settings, counter, live)
    assert not UncertainHit.objects.exists()


def test_redis_keeps_the_newest_hits_and_cuts_the_list_back_only_past_its_slack(counter, monkeypatch):
    """Settling a hit in doubt looks for its id among the recent hits: the newest RECENT_HITS_KEPT
    are always there, and the list grows by at most RECENT_HITS_SLACK before it is cut back."""
    monkeypatch.setattr(keys, "RECENT_HITS_KEPT", 5)
    monkeypatch.setattr(keys, "RECENT_HITS_SLACK", 3)
    ids = []
    lengths = []
    for _ in range(13):
        ids.append(hit_ids.new())
        counter._hit_in_redis("page", ids[-1])
        lengths.append(get_redis().llen(keys.RECENT_HITS))
    assert lengths == [1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 5]
    assert get_redis().lrange(keys.RECENT_HITS, 0, -1) == [hit.encode() for hit in reversed(ids[-5:])]
    assert redis_total() == 13
