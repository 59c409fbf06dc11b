"""Moving views from Redis to the database exactly once, whichever processes run rounds and
whatever Redis forgets, and keeping Redis's bases level with the durable totals."""

import threading

import pytest
import redis
from django.db import DatabaseError, connection, transaction

from counter.engine import flusher, scripts
from counter.engine.database import DatabaseStore, add_views
from counter.engine.redis_store import RedisStore
from counter.models import RedisInstance
from herokuapp.redis_client import get_redis
from tests.counter.engine.conftest import (
    PAGE,
    counter_state,
    durable,
    instance_state,
    script_shas,
    taken,
    unreachable_redis_url,
)

# Committing: rounds stamp and read rows by the database's clock, and threads see each other's
# commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def round_with(worker, before=None, after=None):
    """One round of ``worker``'s on a Redis it has reconciled, calling ``before(source)`` ahead of
    each script call the round makes and ``after(source)`` once the call answered: a way to act at
    a chosen point within a round (flush_round takes the function that calls the scripts)."""

    def run(source, keys, args):
        if before:
            before(source)
        answer = worker.store.run(source, keys, args)
        if after:
            after(source)
        return answer

    worker._enter()
    return flusher.flush_round(get_redis(), run)


def acting_within_rounds(worker, monkeypatch, after):
    """Have ``worker``'s own rounds (store.flush()) call ``after(source)`` once each script call of
    theirs answered, as round_with does for a single round."""
    run = worker.store.run

    def run_then_act(source, keys, args):
        answer = run(source, keys, args)
        after(source)
        return answer

    monkeypatch.setattr(worker.store, "run", run_then_act)


# --- a batch is added once -----------------------------------------------------------------------


def test_a_batch_whose_settle_failed_after_the_database_took_it_is_not_added_again(process, redis_link, redis_client):
    """Redis becomes unreachable between the round's commit and its SETTLE: the batch stays in
    flight in Redis; the next round finds the database has taken it and only settles it."""
    worker = process(redis_link.url)
    worker.flush()  # Redis has its instance id
    for _ in range(3):
        worker.hit()

    def cut_before_settle(source):
        if source == scripts.SETTLE:
            redis_link.cut()

    with pytest.raises(redis.ConnectionError):
        round_with(worker, before=cut_before_settle)
    assert durable() == 3
    assert counter_state(redis_client) == {"base": 0, "pending": 0, "inflight": 3}, "in flight, and shown"
    redis_link.restore()
    assert worker.flush() == 0
    assert durable() == 3
    assert counter_state(redis_client) == {"base": 3, "pending": 0, "inflight": 0}
    assert worker.hit() == 4


@pytest.mark.parametrize("point", ["after its TAKE", "before its SETTLE"])
def test_a_round_of_another_process_in_the_middle_of_a_round_adds_each_view_once(process, point):
    """Two processes' rounds overlap: the second runs whole at a point within the first. Whichever
    adds the batch, the other finds the database has taken it; no lock is needed."""
    first, second = process(), process()
    first.flush()  # Redis has its instance id
    for _ in range(3):
        first.hit()
    added_by_second = []

    at = {"after its TAKE": scripts.TAKE, "before its SETTLE": scripts.SETTLE}[point]

    def second_round(source):
        if source == at and not added_by_second:
            first.hit()  # a view arrives meanwhile: pending, in no batch yet
            added_by_second.append(second.flush())

    if point == "after its TAKE":
        _, added_by_first, settled = round_with(first, after=second_round)
    else:
        _, added_by_first, settled = round_with(first, before=second_round)
    assert added_by_first + added_by_second[0] == 3
    assert settled, "the batch is settled, and the bases refreshed, by whichever SETTLE comes first"
    assert durable() == 3
    assert first.get() == 4
    assert second.flush() == 1
    assert durable() == 4
    assert [first.hit(), second.hit()] == [5, 6]


def test_rounds_running_concurrently_with_views_add_every_view_exactly_once(redis_counter):
    """Two processes count views in threads while each runs rounds in a loop of its own: the
    database never holds more views than were sent, every view shows a number of its own, and in
    the end the database holds every view once."""
    workers = [RedisStore(), RedisStore()]
    per_thread, threads_per_worker = 40, 3
    sent, shown, stop, errors = [0], [], threading.Event(), []
    lock = threading.Lock()

    def count(store):
        try:
            for _ in range(per_thread):
                with lock:
                    sent[0] += 1
                number = store.hit(PAGE)
                with lock:
                    shown.append(number)
        except Exception as error:  # reported below: an assertion in a thread would go unseen
            errors.append(error)
        finally:
            connection.close()

    def flush(store):
        try:
            while not stop.is_set():
                store.flush()
                total = durable()
                with lock:
                    bound = sent[0]  # read after the total: views sent since can only raise it
                if total > bound:
                    errors.append(AssertionError(f"the database holds {total} views of {bound} sent"))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    counters = [threading.Thread(target=count, args=(each,)) for each in workers for _ in range(threads_per_worker)]
    flushers = [threading.Thread(target=flush, args=(store,)) for store in workers]
    for thread in flushers + counters:
        thread.start()
    for thread in counters:
        thread.join(60)
    stop.set()
    for thread in flushers:
        thread.join(60)
    assert errors == []
    views = per_thread * threads_per_worker * len(workers)
    assert sorted(shown) == list(range(1, views + 1))
    for store in workers:
        store.flush()
    assert durable() == views
    assert workers[0].get(PAGE) == views


# --- bases rise to totals written outside the batches --------------------------------------------


def test_a_base_rises_to_views_the_database_store_counted_at_the_next_round(process):
    """Views a process counted in the database (during its outage) reach Redis's base at the next
    round of any process, so that numbers go on above them."""
    worker = process()
    assert [worker.hit(), worker.hit()] == [1, 2]
    worker.flush()
    for _ in range(3):
        DatabaseStore().hit(PAGE)
    assert worker.get() == 2
    worker.flush()
    assert worker.get() == 5
    assert worker.hit() == 6


def test_a_base_rises_to_views_another_redis_instance_flushed(process, redis_server):
    """Two Redis instances (two database numbers here, as after REDIS_URL changed) hold the same
    counter: each one's base rises to the batches the other added, at its next round."""
    first, second = process(redis_server.url(0)), process(redis_server.url(1))
    assert [first.hit(), first.hit()] == [1, 2]
    first.flush()
    assert [second.hit(), second.hit()] == [3, 4], "its base came from the database"
    second.flush()
    assert durable() == 4
    first.flush()
    assert first.get() == 4
    assert first.hit() == 5
    first.flush()
    second.flush()
    assert second.hit() == 6
    assert RedisInstance.objects.count() == 2
    ids = {instance_state(redis_server.client(db))["id"] for db in (0, 1)}
    assert len(ids) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite lets one transaction write at a time")
def test_a_write_committed_after_a_round_read_the_totals_reaches_the_base_at_the_next_round(process):
    """A row's ``updated`` is its transaction's start: a write that began before a round read the
    totals and committed after it is still found by the next round (REFRESH_MARGIN)."""
    worker = process()
    worker.hit("other")
    worker.flush()
    worker.flush()
    began, commit = threading.Event(), threading.Event()

    def slow_write():
        try:
            with transaction.atomic():
                add_views("other", 5)
                began.set()
                commit.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_write)
    writer.start()
    assert began.wait(10)
    worker.flush()  # reads the totals without the uncommitted write, and stamps ``refreshed``
    commit.set()
    writer.join(10)
    assert durable("other") == 6
    assert worker.get("other") == 1
    worker.flush()
    assert worker.get("other") == 6


# --- reconciling a Redis that forgot -------------------------------------------------------------


def epoch(instance_id):
    """The epoch the database records for a Redis instance."""
    return RedisInstance.objects.get(id=instance_id).epoch


def test_an_empty_redis_gets_an_instance_id_and_its_batches_are_numbered_from_one(process, redis_server):
    """A fresh server knows no scripts: the first call reconciles it, which gives it an id and
    records the run id of the server process it was reconciled on."""
    client = redis_server.client()
    worker = process(redis_server.url())
    assert worker.hit() == 1
    instance = instance_state(client)["id"]
    assert instance_state(client)["run_id"] == redis_server.run_id()
    assert worker.flush() == 1
    assert taken(instance) == 1
    worker.hit()
    worker.flush()
    assert (instance_state(client)["id"], taken(instance)) == (instance, 2)


def test_a_redis_emptied_with_its_scripts_loaded_is_reconciled_by_the_next_call_as_a_new_instance(
    process, redis_server
):
    """FLUSHDB leaves the scripts loaded, so no call fails with NOSCRIPT: the first script that finds
    no instance id (here the next view's) has the store reconcile the server, which gives it a new
    id, and the view counts there. Views pending when the data went are lost; nothing counts twice
    and numbers go on from the durable total."""
    client = redis_server.client()
    worker = process(redis_server.url())
    for _ in range(3):
        worker.hit()
    worker.flush()
    old = instance_state(client)["id"]
    worker.hit()
    worker.hit()  # pending: lost with the data
    client.flushdb()
    assert client.script_exists(*script_shas(databases=[0])) == [True] * 4
    assert worker.hit() == 4, "seeded from the durable total"
    new = instance_state(client)["id"]
    assert new != old
    assert worker.flush() == 1
    assert (taken(old), taken(new)) == (1, 1)
    assert durable() == 4
    assert worker.hit() == 5


def test_a_redis_restarted_empty_is_reconciled_at_its_first_call(process, redis_server):
    """It knows no scripts: NOSCRIPT on the first call, which gives it an id and goes on from the
    durable total. The view pending when it stopped is lost with its data."""
    client = redis_server.client()
    worker = process(redis_server.url())
    worker.hit()
    worker.flush()
    old = instance_state(client)["id"]
    worker.hit()  # pending: lost with the data
    redis_server.restart_empty()
    assert worker.hit() == 2
    assert instance_state(client)["id"] != old
    worker.flush()
    assert durable() == 2


def test_a_redis_restarted_from_a_snapshot_older_than_the_database_starts_afresh(process, redis_server):
    """Its last batch is below the one the database took for its id: everything in it is in the
    database already, so its keys go and it counts as a new instance, from the durable totals."""
    client = redis_server.client()
    worker = process(redis_server.url())
    worker.hit()
    worker.hit()
    worker.flush()
    snapshot = redis_server.save()
    old = instance_state(client)["id"]
    for _ in range(3):
        worker.hit()
    worker.flush()
    worker.hit()  # pending: lost with the data
    redis_server.restart_from(snapshot)
    assert (instance_state(client)["batch"], taken(old)) == ("1", 2)
    assert worker.hit() == 6, "the first call finds the scripts gone, and reconciles"
    assert instance_state(client)["id"] != old
    assert counter_state(client) == {"base": 5, "pending": 1}
    assert durable() == 5, "the snapshot's views were not added again"
    assert worker.flush() == 1
    assert durable() == 6


def test_a_redis_restarted_from_a_snapshot_the_database_is_level_with_keeps_its_pending_views(process, redis_server):
    """No batch of its was taken since the snapshot: the views pending in the snapshot are in no
    batch yet, so they stay and reach the database, in a new epoch; only those counted after it
    are lost."""
    client = redis_server.client()
    worker = process(redis_server.url())
    worker.hit()
    worker.hit()
    worker.flush()
    old = instance_state(client)["id"]
    for _ in range(3):
        worker.hit()
    snapshot = redis_server.save()
    worker.hit()  # after the snapshot: lost with the data
    redis_server.restart_from(snapshot)
    assert worker.hit() == 6
    assert instance_state(client)["id"] == old
    assert (instance_state(client)["epoch"], epoch(old)) == ("1", 1)
    assert worker.flush() == 4
    assert durable() == 6


def three_views_and_a_snapshot_after_take(worker, redis_server, then=None):
    """Count three views, and return (snapshots, a ``round_with`` hook that saves a snapshot right
    after the round's TAKE, with the batch in flight, then calls ``then``)."""
    for _ in range(3):
        worker.hit()
    snapshots = []

    def snapshot_after_take(source):
        if source == scripts.TAKE:
            snapshots.append(redis_server.save())
            if then:
                then()

    return snapshots, snapshot_after_take


def test_the_batch_in_flight_in_a_snapshot_is_added_once(process, redis_server):
    """The snapshot was taken while a round had its batch in flight, and the round completed. The
    server restarted from it still holds that batch in flight, numbered as the database took it:
    the next round only settles it."""
    client = redis_server.client()
    worker = process(redis_server.url())
    snapshots, snapshot_after_take = three_views_and_a_snapshot_after_take(worker, redis_server)
    assert round_with(worker, after=snapshot_after_take)[1:] == (3, True)
    redis_server.restart_from(snapshots[0])
    assert counter_state(client) == {"base": 0, "pending": 0, "inflight": 3}
    assert worker.hit() == 4
    assert worker.flush() == 0, "the database had taken it"
    assert durable() == 3
    assert worker.flush() == 1
    assert durable() == 4
    assert worker.hit() == 5


def test_the_batch_in_flight_in_a_snapshot_the_database_never_took_is_added_once(
    process, redis_server, database_unreachable
):
    """The round that took the batch could not reach the database. The server restarted from a
    snapshot taken then holds the batch in flight, which the next round adds, once."""
    worker = process(redis_server.url())
    snapshots, snapshot_after_take = three_views_and_a_snapshot_after_take(
        worker, redis_server, then=database_unreachable
    )
    with pytest.raises(DatabaseError):
        round_with(worker, after=snapshot_after_take)
    database_unreachable.restore()
    worker.hit()  # after the snapshot: lost with the data
    redis_server.restart_from(snapshots[0])
    assert worker.hit() == 4
    assert worker.flush() == 3
    assert worker.flush() == 1
    assert durable() == 4


def test_a_round_that_took_its_batch_before_the_server_restarted_adds_nothing_and_ends_no_outage(
    process, redis_server, monkeypatch, caplog
):
    """The server restarts with its data (from a snapshot holding the batch in flight) while a
    process's round carries that batch to the database, and another process's round adds the
    restarted server's copy of it first. The late round finds the instance in a newer epoch: it
    adds nothing and settles nothing, and says so. Its process, in an outage, stays in it (its
    bases were not raised past the views it counted in the database) until a round of its own
    settles; every view counts once."""
    client = redis_server.client()
    worker, other = process(redis_server.url()), process(redis_server.url())
    worker.hit()
    worker.flush()
    worker.url = unreachable_redis_url()
    assert worker.hit() == 2, "counted in the database"
    assert worker.down
    worker.url = redis_server.url()
    for _ in range(3):
        other.hit()
    restarted = []

    def restart_after_take(source):
        if source == scripts.TAKE and not restarted:
            restarted.append(redis_server.save())
            redis_server.restart_from(restarted[0])
            assert other.flush() == 3, "the restarted server's copy of the batch"

    acting_within_rounds(worker, monkeypatch, after=restart_after_take)
    assert worker.flush() == 0
    assert "a batch of epoch 0 reached the database at epoch 1: not added" in caplog.text
    assert worker.down, "no round of its has raised the bases yet"
    assert durable() == 5
    assert worker.hit() == 6, "counted in the database"
    assert worker.flush() == 0
    assert not worker.down
    assert worker.hit() == 7
    assert instance_state(client)["epoch"] == "1"
    worker.flush()
    assert durable() == 7


def test_a_restart_is_one_new_epoch_however_many_processes_reconcile_it(process, redis_server):
    """Every process's first call on the restarted server may find the scripts gone and reconcile
    it, one after another. The first moves it into a new epoch and records the server's run id;
    those queued behind it change nothing, so a round that took its batch between them is added
    and settled."""
    client = redis_server.client()
    worker, other = process(redis_server.url()), process(redis_server.url())
    worker.hit()
    worker.flush()
    instance = instance_state(client)["id"]
    redis_server.restart_from(redis_server.save())
    assert worker.hit() == 2, "reconciled: its data kept, in epoch 1"
    assert instance_state(client)["run_id"] == redis_server.run_id()

    def queued_reconcile(source):
        if source == scripts.TAKE:
            flusher.reconcile(
                get_redis(), scripts.for_database(0)
            )  # another process's, that found the scripts gone too

    assert round_with(other, after=queued_reconcile)[1:] == (1, True)
    assert (instance_state(client)["epoch"], epoch(instance)) == ("1", 1)
    assert durable() == 2


def test_scripts_flushed_without_a_restart_leave_the_data_as_it_was_reconciled(process, redis_server):
    """SCRIPT FLUSH (an operator's) makes the next call find its script gone, as after a restart;
    but the server process is the one the data was reconciled on (its run id), so the data is kept
    as it is, in the same epoch, and its views reach the database once."""
    client = redis_server.client()
    worker = process(redis_server.url())
    worker.hit()
    worker.flush()
    worker.hit()
    worker.hit()
    before = instance_state(client)
    client.script_flush()
    assert worker.hit() == 4
    assert client.script_exists(*script_shas(databases=[0])) == [True] * 4, "loaded again"
    assert instance_state(client) == before
    assert worker.flush() == 3
    assert (durable(), epoch(before["id"])) == (4, 0)


def test_a_round_adopts_the_epoch_of_a_reconcile_whose_database_commit_failed(process, redis_server):
    """A reconcile moved a restarted server into a new epoch in Redis, and its transaction could
    not commit: the row stays in the epoch before (set back here as the rollback leaves it). The
    server is reconciled (its run id recorded), so no call reconciles it again: the next round
    takes the server's epoch as the row's and adds its batch, instead of refusing every batch from
    then on."""
    client = redis_server.client()
    worker = process(redis_server.url())
    worker.hit()
    worker.flush()
    instance = instance_state(client)["id"]
    redis_server.restart_from(redis_server.save())
    assert worker.hit() == 2, "reconciled: its data kept, in epoch 1"
    RedisInstance.objects.filter(id=instance).update(epoch=0)
    worker.hit()
    assert worker.flush() == 2
    assert (durable(), epoch(instance), instance_state(client)["epoch"]) == (3, 1, "1")
    assert worker.hit() == 4


def test_views_counted_in_an_emptied_redis_are_not_added_twice_after_a_restore_from_a_snapshot_taken_then(
    process, redis_server
):
    """FLUSHDB leaves the scripts loaded; the next view finds no instance id and reconciles the
    server (gives it an id) before it counts. A snapshot taken then, restored after a round added
    that view, is behind the database for that id: the view must not be added again."""
    client = redis_server.client()
    worker = process(redis_server.url())
    worker.hit()
    worker.flush()
    client.flushdb()
    assert worker.hit() == 2
    snapshot = redis_server.save()
    assert worker.flush() == 1
    assert durable() == 2
    redis_server.restart_from(snapshot)
    worker.hit()
    worker.flush()
    worker.flush()
    assert durable() == 3, "three views served, none lost"


def test_a_database_of_a_restarted_server_whose_scripts_another_database_loaded_is_reconciled_by_its_next_round(
    process, redis_server
):
    """Two databases of one server are in use (REDIS_URL moved to another database number, with
    processes still on the first). The server restarts with its data, twice; the second time a
    process on the other database reconciles first, which loads the scripts for the whole server,
    so calls on this one get no NOSCRIPT. Its next round still notices the restart (the run id its
    data was reconciled on is not the server's) and reconciles it: its views reach the database."""
    client = redis_server.client(1)
    worker, other = process(redis_server.url(1)), process(redis_server.url(0))
    worker.flush()
    snapshot = redis_server.save()
    redis_server.restart_from(snapshot)
    worker.flush()  # NOSCRIPT: reconciled once, with its data, in epoch 1
    redis_server.restart_from(snapshot)  # back in epoch 0
    other.flush()  # NOSCRIPT on the other database: its reconcile loads the scripts again
    assert worker.hit() == 1
    worker.flush()
    worker.flush()
    assert durable() == 1
    assert (instance_state(client)["epoch"], instance_state(client)["run_id"]) == ("2", redis_server.run_id())


def test_a_view_counted_on_a_database_restored_behind_the_database_before_a_round_reconciled_it_is_not_lost(
    process, redis_server
):
    """As above, but the server comes back from a snapshot older than the database: the scripts
    answer on this database (loaded for the other), so a view counts in the restored data before a
    round reconciles it. That view was served after the loss: it must reach the database, and show
    a number above the durable total."""
    worker, other = process(redis_server.url(1)), process(redis_server.url(0))
    worker.hit()
    worker.flush()
    snapshot = redis_server.save()
    worker.hit()
    worker.flush()
    redis_server.restart_from(snapshot)
    other.flush()  # NOSCRIPT on the other database: its reconcile loads the scripts
    shown = worker.hit()
    worker.flush()
    worker.flush()
    assert (durable(), shown) == (3, 3), "three views served, none lost, numbers above the durable total"
