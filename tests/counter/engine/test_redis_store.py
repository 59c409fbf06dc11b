"""The Redis store: one Redis round trip per view, the database as the durable record, and the
database itself while Redis is away; a view whose call failed after it was sent counts once."""

import time

import pytest
import redis
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from counter.engine.base import CounterUnavailable
from counter.engine.database import add_views
from tests.counter.engine.conftest import PAGE, counter_state, durable, unreachable_redis_url

# Committing: the stores' rounds stamp and read rows by the database's clock, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_counter_s_first_view_in_redis_goes_on_from_its_durable_total(process, redis_client):
    add_views(PAGE, 41)
    worker = process()
    assert worker.hit() == 42
    assert counter_state(redis_client) == {"base": 41, "pending": 1}
    assert durable() == 41, "the view waits in Redis for a round"
    assert worker.flush() == 1
    assert durable() == 42


def test_the_numbers_shown_rise_by_one_per_view_across_rounds(process):
    """A round moves views from ``pending`` into the base: the number shown does not change."""
    worker = process()
    shown = [worker.hit() for _ in range(3)]
    worker.flush()
    shown += [worker.hit() for _ in range(2)]
    worker.flush()
    shown += [worker.hit()]
    assert shown == [1, 2, 3, 4, 5, 6]
    assert durable() == 5


def test_views_of_several_processes_share_one_sequence(process):
    """Processes on one Redis count in the same hash, whichever of them runs the rounds."""
    first, second = process(), process()
    assert [first.hit(), second.hit(), first.hit(), second.hit()] == [1, 2, 3, 4]
    second.flush()
    assert [first.hit(), second.hit()] == [5, 6]
    first.flush()
    assert durable() == 6


def test_get_shows_the_last_number_without_counting(process, redis_client):
    """What the admin and the API read: Redis's number, views pending included, with no view added."""
    worker = process()
    assert worker.get() == 0
    worker.hit()
    worker.hit()
    assert [worker.get(), worker.get()] == [2, 2]
    assert counter_state(redis_client)["pending"] == 2
    worker.flush()
    assert worker.get() == 2
    assert worker.hit() == 3


def test_get_of_a_counter_redis_does_not_hold_reads_the_database(process, redis_client):
    """A counter no view reached in Redis yet is its durable total."""
    add_views(PAGE, 7)
    assert process().get() == 7
    assert counter_state(redis_client) == {}, "reading seeds nothing"


def test_get_many_reads_any_number_of_counters_in_one_call_to_redis_and_at_most_one_query(
    process, redis_link, redis_client
):
    """Redis's numbers (a base from the database and views pending on it, or pending views alone)
    come from one script call; the counters Redis does not hold (nothing counted there, or counted
    in the database while Redis was away) from one query, none if Redis holds them all."""
    names = [f"day-{n}" for n in range(366)]
    worker = process(redis_link.url)
    worker.hit(names[0])
    worker.hit(names[29])
    worker.flush()
    worker.hit(names[29])
    worker.hit(names[365])
    add_views(names[100], 4)
    worker.store.get_many(names[:1])  # Redis loads the script on its first call
    read = {}
    for count in (1, 30, 366):
        sent = len(redis_link.commands)
        with CaptureQueriesContext(connection) as queries:
            read[count] = worker.store.get_many(names[:count])
        assert sent_by_the_store(redis_link.commands[sent:]) == ["EVALSHA"], count
        assert len(queries) == (0 if count == 1 else 1), count
    assert read[1] == {names[0]: 1}
    assert {name: views for name, views in read[366].items() if views} == {
        names[0]: 1,
        names[29]: 2,
        names[100]: 4,
        names[365]: 1,
    }
    assert sorted(read[366]) == sorted(names) and len(read[30]) == 30
    assert counter_state(redis_client, names[100]) == {}, "reading seeds nothing"


def test_get_many_reads_the_database_while_redis_is_unreachable(process, redis_link):
    """As for one counter: Redis failing sends the process down, and the durable totals are shown."""
    worker = process(redis_link.url)
    worker.hit("a")
    worker.flush()
    worker.hit("a")
    worker.hit("b")
    redis_link.cut()
    assert worker.store.get_many(["a", "b", "c"]) == {"a": 1, "b": 0, "c": 0}
    assert worker.down


def test_get_many_of_counters_redis_holds_needs_no_database(process, database_unreachable):
    worker = process()
    worker.hit("a")
    worker.hit("b")
    database_unreachable()
    assert worker.store.get_many(["a", "b"]) == {"a": 1, "b": 1}
    with pytest.raises(CounterUnavailable):
        worker.store.get_many(["a", "never-seen"])
    assert not worker.down


def test_counters_are_independent_by_name(process):
    worker = process()
    worker.hit("a")
    worker.hit("a")
    worker.hit("b")
    assert (worker.get("a"), worker.get("b"), worker.get("c")) == (2, 1, 0)
    assert worker.flush() == 3
    assert (durable("a"), durable("b")) == (2, 1)


def test_a_view_is_one_round_trip_to_redis(process, redis_link, database_unreachable):
    """Once the counter has its base in Redis, a view sends one command and needs nothing else:
    not even the database."""
    worker = process(redis_link.url)
    worker.hit()
    database_unreachable()
    sent = len(redis_link.commands)
    assert worker.hit() == 2
    assert redis_link.commands[sent:] == ["EVALSHA"]


def sent_by_the_store(commands):
    """The commands the store sent, without those of redis-py's connection handshake."""
    return [command for command in commands if command not in {"HELLO", "CLIENT", "SELECT", "PING"}]


def test_a_process_learns_the_instance_id_once_and_again_when_redis_says_it_changed(process, redis_link, redis_client):
    """Each view is sent tagged with the id of the Redis instance the process believes current,
    and counts only there: the process reads the id with one HGET before its first view, and again
    only when Redis refuses a view because it is another instance now (emptied, and reconciled by
    another process); the refused view did not count, and is sent again with the new id."""
    other = process()
    other.hit()
    other.flush()
    worker = process(redis_link.url)
    assert worker.hit() == 2
    assert worker.hit() == 3
    assert sent_by_the_store(redis_link.commands) == ["HGET", "EVALSHA", "EVALSHA"]
    redis_client.flushdb()
    other.flush()  # reconciles: the emptied Redis gets a new id
    sent = len(redis_link.commands)
    assert worker.hit() == 2, "the view pending when Redis was emptied went with its data"
    assert sent_by_the_store(redis_link.commands[sent:]) == ["EVALSHA", "HGET", "EVALSHA", "HSETNX", "EVALSHA"], (
        "refused, the id read again, no base yet, the base set from the durable total, counted"
    )
    assert worker.flush() == 1
    assert durable() == 2


# --- a call that failed after it may have been sent ------------------------------------------------


def test_a_view_whose_call_timed_out_is_not_counted_in_the_database_and_is_counted_once_later(process, redis_server):
    """Redis hangs (SIGSTOP) with the view's call sent: after the client's timeout the page shows
    the durable total, and the process counts in the database. The call runs when Redis resumes;
    the next round sends the view again (same sender and number), which Redis recognizes, and its
    batch carries the view to the database once."""
    worker = process(redis_server.url())
    assert [worker.hit(), worker.hit()] == [1, 2]
    worker.flush()
    redis_server.pause()
    started = time.monotonic()
    assert worker.hit() == 2, "the durable total"
    assert time.monotonic() - started < 2
    assert worker.down
    assert durable() == 2, "a view that may have counted in Redis is not counted in the database too"
    redis_server.resume()
    assert counter_state(redis_server.client())["pending"] == 1, "Redis ran the call it had received"
    assert worker.flush() == 1
    assert not worker.down
    assert worker.flush() == 0
    assert durable() == 3
    assert worker.hit() == 4


def test_a_view_whose_timed_out_call_never_ran_counts_when_the_next_round_sends_it_again(process, redis_server):
    """Redis holds the call unanswered (CLIENT PAUSE) until the client gives up and closes the
    connection, and then drops it: the next round's resend is what counts the view, once."""
    worker = process(redis_server.url())
    worker.hit()
    worker.flush()
    admin = redis_server.client()
    admin.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
    try:
        assert worker.hit() == 1
        assert worker.down
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    assert counter_state(admin).get("pending", 0) == 0, "Redis dropped the call of a client that had gone"
    assert durable() == 1
    assert worker.flush() == 1
    assert durable() == 2
    assert worker.hit() == 3


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_connection_reset_mid_call_is_sent_again_once_and_the_view_counts_once(
    process, redis_link, redis_client, when
):
    """The connection breaks with the view's call sent, before Redis received it or after Redis
    ran it: the store sends it again at once on a new connection, and Redis counts it once."""
    worker = process(redis_link.url)
    assert worker.hit() == 1
    redis_link.reset_next_hit(when)
    assert worker.hit() == 2
    assert not worker.down
    assert counter_state(redis_client)["pending"] == 2
    assert worker.hit() == 3
    assert worker.flush() == 3
    assert durable() == 3


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("rounds_before", [1, 0], ids=["after-a-round", "before-any-round"])
def test_a_view_whose_call_is_reset_twice_is_sent_by_the_next_round_and_counts_once(
    process, redis_link, when, rounds_before
):
    """The call and its immediate resend both break, before Redis received them or after Redis ran
    them: the view is in doubt, is not counted in the database, and counts once when the next
    round sends it again, whether or not the process had completed a round before."""
    worker = process(redis_link.url)
    worker.hit()
    for _ in range(rounds_before):
        worker.flush()
    redis_link.reset_next_hit(when, times=2)
    assert worker.hit() == durable(), "the durable total"
    assert worker.down
    assert durable() == rounds_before
    worker.flush()
    assert durable() == 2
    assert worker.hit() == 3


def test_a_view_in_doubt_sent_to_an_instance_since_replaced_is_dropped_and_logged_never_counted_twice(
    process, redis_link, redis_client, caplog
):
    """Redis was emptied and another process's round gave it a new instance id; this process,
    still believing the old id current, sends a view whose call breaks twice (here before reaching
    Redis). The view is in doubt, tagged with the id it was sent to, which is gone when the next
    round sends it again. The engine cannot tell whether it ran on the old instance and reached the
    database in a batch before the data went (then counting it again would count it twice), so it
    is dropped as lost with that instance's data, and logged: counted at most once. Views after it
    count as usual."""
    worker, other = process(redis_link.url), process()
    worker.hit()
    worker.flush()
    redis_client.flushdb()
    other.flush()  # reconciles: the emptied Redis gets a new id
    redis_link.reset_next_hit("before", times=2)
    assert worker.hit() == 1, "the durable total"
    assert worker.down
    assert durable() == 1, "not counted in the database: it may have counted in Redis"
    worker.flush()
    assert "a view in doubt was sent to a Redis instance since replaced: lost with its data" in caplog.text
    assert not worker.down
    assert durable() == 1
    assert worker.hit() == 2
    worker.flush()
    assert durable() == 2


def test_a_process_that_starts_while_redis_hangs_loses_no_view(process, redis_server):
    """A worker starts while Redis accepts connections but answers nothing, and serves a view
    before its first round (which runs at the same time, in its flusher thread): the view cannot
    be counted in Redis, and must count once Redis answers."""
    redis_server.pause()
    worker = process(redis_server.url())
    assert worker.hit() == durable()
    assert worker.down
    redis_server.resume()
    worker.flush()
    assert durable() == 1
    assert worker.hit() == 2


def test_a_view_refused_because_redis_hung_and_the_database_is_unreachable_is_never_counted(
    process, redis_server, database_unreachable
):
    """Redis stops answering with the view's call sent, and the database cannot give the number
    to show either: the page answers 503 and the client will try again, so the view must not
    count, although Redis runs the call when it resumes."""
    worker = process(redis_server.url())
    worker.hit()
    worker.flush()
    redis_server.pause()
    database_unreachable()
    with pytest.raises(CounterUnavailable):
        worker.hit()
    redis_server.resume()
    database_unreachable.restore()
    worker.flush()
    worker.flush()
    assert durable() == 1
    assert worker.hit() == 2


# --- Redis unreachable -------------------------------------------------------------------------


def test_while_redis_is_unreachable_views_count_in_the_database_until_a_round_succeeds(
    process, redis_link, redis_client
):
    """Redis refuses connections: each view counts in the database (nothing was sent to Redis),
    and the process stays ``down`` until one of its rounds succeeds; then views count in Redis
    again, above the views the database counted meanwhile."""
    worker = process(redis_link.url)
    assert [worker.hit(), worker.hit()] == [1, 2]
    worker.flush()
    assert worker.hit() == 3  # pending in Redis, kept through the outage
    redis_link.cut()
    assert [worker.hit(), worker.hit()] == [3, 4], "counted in the database, on its total"
    assert worker.down
    assert durable() == 4
    with pytest.raises(redis.ConnectionError):
        worker.flush()
    assert worker.down
    redis_link.restore()
    assert worker.hit() == 5, "still counting in the database: no round has succeeded yet"
    assert durable() == 5
    assert worker.flush() == 1
    assert not worker.down
    assert durable() == 6
    assert worker.hit() == 7, "numbers go on above the database's"
    assert counter_state(redis_client)["pending"] == 1


def test_views_another_process_counted_in_the_database_are_shown_after_the_next_round(process):
    """One process cannot reach Redis and counts in the database; another, counting in Redis,
    shows those views once its next round has raised the base to the durable total."""
    counting, cut_off = process(), process(unreachable_redis_url())
    counting.hit()
    counting.flush()
    assert [cut_off.hit(), cut_off.hit()] == [2, 3]
    assert cut_off.down
    assert counting.hit() == 2, "Redis does not know of them yet"
    counting.flush()
    assert counting.get() == 4
    assert counting.hit() == 5


def test_with_redis_and_the_database_unreachable_a_view_is_counter_unavailable(
    process, redis_link, database_unreachable
):
    """Nothing can count it: the page answers 503 and the client tries again."""
    worker = process(redis_link.url)
    worker.hit()
    redis_link.cut()
    database_unreachable()
    with pytest.raises(CounterUnavailable):
        worker.hit()
    with pytest.raises(CounterUnavailable):
        worker.get()


def test_with_the_database_unreachable_a_counter_redis_holds_goes_on_counting(process, database_unreachable):
    """Redis counts without the database once it holds the counter's base; the round that cannot
    reach the database leaves the batch in flight, and a later round adds it once."""
    worker = process()
    worker.hit()
    worker.flush()
    database_unreachable()
    assert [worker.hit(), worker.hit()] == [2, 3]
    with pytest.raises(CounterUnavailable):
        worker.hit("never-seen")  # its base must come from the database
    with pytest.raises(DatabaseError):
        worker.flush()
    assert not worker.down, "Redis answers: the process keeps counting there"
    assert worker.hit() == 4
    database_unreachable.restore()
    assert durable() == 1
    assert worker.flush() == 2, "the batch left in flight"
    assert worker.flush() == 1, "the view counted since"
    assert durable() == 4
    assert worker.hit() == 5
