"""The counter's guarantees under faults, end to end: two web dynos (two workers each) on one
test-owned redis-server and one test-owned TLS-only PostgreSQL cluster, loaded by client threads
while Redis, the database or a dyno is stopped, paused, restored, reset or killed, and brought back.

The guarantees (docs/counting.md):

- Never twice: the durable count never exceeds the views served.
- Lost only with Redis's data: Redis stopped or hung, REDIS_URL moved, the database down, a
  connection reset mid-command, a clean SIGTERM lose nothing. Redis restarted empty or from an
  older snapshot loses at most the views counted in the last flush interval before the loss;
  SIGKILL at most the views in flight.
- Converges: within two flush intervals after a fault ends, a view shows exactly the durable count
  plus the views since.
- Numbers rise: while no fault is under way, no view shows less than one shown before it, and
  while Redis answers consecutive views on one connection never show the same number; during a
  fault and until converged, a number runs below one shown before by about one flush interval's
  views at most.

A client thread keeps one keep-alive connection, which one gunicorn worker process serves, so the
numbers shown on one connection are one process's, in order. Each scenario's figures go to
test-artifacts/faults.json and are printed; every view each load recorded goes to
test-artifacts/faults-views/.
"""

import signal
import time

import pytest

from tests.support.faults import (
    FLUSH_INTERVAL,
    FLUSH_JITTER,
    DurableLog,
    Faults,
    Fleet,
    Load,
    RedisServer,
    durable_total,
    exactness,
    fleet_environment,
    loss_allowance,
    most_served_within,
    order_figures,
    percentile,
    record,
    sequential_views,
    settle,
    statuses,
    taken,
    wait_until,
    worst_latency,
)

pytestmark = pytest.mark.slow

# The most a page may take while Redis is away: a call waits out Redis's read timeout (0.5 s) once
# before its process counts in the database.
FAST = 2.0


def conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults, other_views=0):
    """After the load: settle, then three sequential views on each dyno, then settle again.

    Returns the figures every scenario reports and asserts on: views served (200) and counted
    (the durable total once settled), the worst drop and longest run of one number on a
    connection, the worst latency, whether each view sent after the last fault ended showed
    exactly the durable count plus the views since (and when that began), and the numbers the
    sequential views showed. ``other_views``: views served during the load outside it."""
    first = settle(postgres_cluster, cluster_database.name, redis_server)
    final = first["durable"]
    after = [sequential_views(dyno) for dyno in fleet.slots]
    second = settle(postgres_cluster, cluster_database.name, redis_server) if first["settled"] else first
    order = order_figures(load.views, faults)
    exact = exactness(load.views, final, faults.last_ended)
    return {
        "views_served": len(load.served()) + other_views,
        "views_counted": final,
        "worst_drop": order["worst_drop"],
        "longest_run": order["longest_run"],
        "worst_latency": worst_latency(load.views),
        "p50_latency": percentile(load.views, 0.5),
        "statuses": statuses(load.views),
        "settled": first["settled"] and second["settled"],
        "settle_seconds": first["seconds"],
        "settle_state": second,
        "exact_after_the_fault": exact,
        "converged_seconds_after_the_fault": exact["last_wrong"] or 0.0,
        "sequential_views_after_settling": after,
        "expected_sequential_views": [[final + 3 * slot + n for n in (1, 2, 3)] for slot in range(len(after))],
        "counted_after_them": second["durable"],
        "order": order,
        "load_seconds": round(load.ended - load.began, 2),
        "logged": engine_log(fleet),
    }


def engine_log(fleet):
    """How often the dynos logged each of the counter engine's warnings."""
    return {
        "went_to_the_database": fleet.logged("Redis unreachable"),
        "why": sorted(set(fleet.log_lines("Redis unreachable")))[:4],
        "flush_failed": fleet.logged("counter flush failed"),
        "started_redis_afresh": fleet.logged("starting it afresh"),
        "views_in_doubt_lost": fleet.logged("view in doubt"),
    }


def assert_settled_and_converged(result, faults):
    """The flusher settles; a view sent two flush intervals (and a slack) after the fault ended
    shows exactly the durable count plus the views since; after settling, sequential views show
    the durable count plus one, two, three... and each counts once."""
    assert result["settled"], f"the flusher never settled: {result['settle_state']}"
    assert result["converged_seconds_after_the_fault"] <= 2 * faults.interval + faults.slack, result[
        "exact_after_the_fault"
    ]
    assert result["sequential_views_after_settling"] == result["expected_sequential_views"]
    assert result["counted_after_them"] == result["views_counted"] + 3 * len(result["expected_sequential_views"])
    assert result["settle_state"]["redis"]["shown"] == result["counted_after_them"], "Redis shows the durable total"


def assert_rising(result, allowed_drop):
    """While no fault is under way no view shows less than one shown before it (on its connection
    or anywhere) nor, on its connection, the number the view before showed; during a fault and
    until converged a number runs below one shown before by ``allowed_drop`` at most."""
    order = result["order"]
    assert order["calm_drops"] == 0, order["calm_drop_examples"]
    assert order["calm_regressions"] == 0, order["calm_regression_examples"]
    assert order["calm_repeats"] == 0, order["calm_repeat_examples"]
    assert order["worst_drop"] <= allowed_drop, f"a number ran {order['worst_drop']} below one shown before: {order}"


def assert_health(reports, ready, ready_status, dependencies):
    """Every dyno's /health/live answers 200 and its /health/ready reports ``ready`` with
    ``ready_status`` and each of ``dependencies`` as given."""
    for report in reports:
        assert report["live_status"] == 200, reports
        assert (report["ready_status"], report["ready"]) == (ready_status, ready), reports
        for name, status in dependencies.items():
            assert report["dependencies"][name] == status, reports


def drop_allowed(load, start, end, interval=FLUSH_INTERVAL):
    """About one flush interval's views: the most served in any flush interval (and its jitter)
    between ``start`` and ``end``."""
    return most_served_within(load.views, interval + FLUSH_JITTER, start, end)


def assert_kept_every_view(result, faults, allowed_drop):
    """The guarantees of a fault that loses nothing: every view counted once, settled and exact
    again soon after the fault, and numbers rising but for a bounded drop during it."""
    assert_nothing_lost(result)
    assert_settled_and_converged(result, faults)
    assert_rising(result, allowed_drop)


def assert_nothing_lost(result):
    """Every view served counted, and no other."""
    assert result["views_counted"] == result["views_served"], (
        f"{result['views_counted']} counted for {result['views_served']} served: nothing may be lost or doubled"
    )


def assert_loss_bounded(result, loss, flushing=True):
    """Never twice; lost at most the views since the last flush before the loss, which was at most a
    flush interval (and jitter) before it while the flushers could reach the database."""
    lost = result["views_served"] - result["views_counted"]
    assert lost >= 0, f"{-lost} views counted twice"
    assert loss["seconds_from_last_flush_to_the_loss"] is not None
    assert lost <= loss["views_since_last_flush"], f"{lost} lost, more than Redis held unflushed: {loss}"
    if flushing:
        assert loss["seconds_from_last_flush_to_the_loss"] <= FLUSH_INTERVAL + FLUSH_JITTER, (
            f"Redis held views unflushed for longer than a flush interval: {loss}"
        )
        assert lost <= loss["views_in_the_last_flush_interval"], (
            f"{lost} lost, more than a flush interval's views: {loss}"
        )


def test_redis_stopped_then_back_with_its_data(fleet, redis_server, postgres_cluster, cluster_database):
    """Redis shut down (saving its data, as a restart of a persistent instance does) and started
    again: the page serves from the database meanwhile, fast, and not one view is lost or doubled."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        signalled, exited = redis_server.stop(keep_data=True)
        load.mark("redis_signalled", signalled)
        load.wait(1.5)
        redis_server.start()
        back = load.mark("redis_back")
        faults.add(signalled, back)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    outage = load.between(signalled, back)
    allowed = drop_allowed(load, signalled, faults.converged)
    figures = result | {
        "drop_allowed": allowed,
        "worst_latency_while_redis_was_away": worst_latency(outage),
        "redis_down_seconds": round(back - signalled, 2),
        "server_errors": fleet.errors(),
    }
    record("redis_stopped_with_its_data", figures, load)

    assert result["statuses"] == {"200": len(load.views)}, "every view is served while Redis is away"
    assert worst_latency(outage) < FAST
    assert_kept_every_view(result, faults, allowed)


def test_redis_hung_then_resumed_with_its_data(fleet, redis_server, postgres_cluster, cluster_database):
    """Redis stops answering (SIGSTOP) with connections open, then answers again (SIGCONT) with the
    commands that waited: each process waits out Redis's timeout once and counts in the database;
    a view whose call timed out counts once whether Redis ran it late or not."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        paused = load.mark("paused", redis_server.pause())
        load.wait(1.5)
        resumed = load.mark("resumed", redis_server.resume())
        faults.add(paused, resumed)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    outage = load.between(paused, resumed)
    allowed = drop_allowed(load, paused, faults.converged)
    figures = result | {
        "drop_allowed": allowed,
        "worst_latency_while_redis_hung": worst_latency(outage),
        "p50_latency_while_redis_hung": percentile(outage, 0.5),
        "views_that_waited_out_the_redis_timeout": sum(v.latency >= 0.5 for v in outage),
        "redis_hung_seconds": round(resumed - paused, 2),
        "server_errors": fleet.errors(),
    }
    record("redis_hung", figures, load)

    assert result["statuses"] == {"200": len(load.views)}
    assert worst_latency(outage) < FAST
    assert percentile(outage, 0.5) < 0.1, "once a process has timed out it counts in the database, quickly"
    assert_kept_every_view(result, faults, allowed)


def test_redis_restarted_empty(fleet, redis_server, postgres_cluster, cluster_database):
    """Redis restarted without its data: the views it held since the last flush go with it, at most a
    flush interval's; the count carries on from the durable total and converges."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name) as durable_log, Load(fleet) as load:
        load.wait(1.5)
        signalled, exited = redis_server.stop()
        load.mark("redis_signalled", signalled)
        load.wait(1.0)
        redis_server.start()
        back = load.mark("redis_back")
        faults.add(signalled, back)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    loss = loss_allowance(load.views, durable_log, signalled, exited)
    allowed = drop_allowed(load, signalled - FLUSH_INTERVAL - FLUSH_JITTER, faults.converged)
    figures = result | {
        "views_lost": result["views_served"] - result["views_counted"],
        "loss": loss,
        "drop_allowed": allowed,
        "worst_latency_while_redis_was_away": worst_latency(load.between(signalled, back)),
        "server_errors": fleet.errors(),
    }
    record("redis_restarted_empty", figures, load)

    assert result["statuses"] == {"200": len(load.views)}
    assert worst_latency(load.between(signalled, back)) < FAST
    assert_loss_bounded(result, loss)
    assert_settled_and_converged(result, faults)
    assert_rising(result, allowed)


def test_redis_restored_from_an_older_snapshot(fleet, redis_server, postgres_cluster, cluster_database):
    """Redis restarted from a snapshot older than the batches the database has since taken: it starts
    afresh as a new instance, so nothing the snapshot held is counted again, and what is lost is at
    most the views since the last flush before the restart."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name) as durable_log, Load(fleet) as load:
        load.wait(1.0)
        snapshot, older = redis_server.snapshot("older")
        load.mark("snapshot")
        load.wait(1.5)  # more views, more flushes
        taken_before = taken(postgres_cluster, cluster_database.name)
        signalled, exited = redis_server.stop()
        load.mark("redis_signalled", signalled)
        redis_server.start(snapshot=snapshot)
        back = load.mark("redis_back")
        faults.add(signalled, back)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    loss = loss_allowance(load.views, durable_log, signalled, exited)
    allowed = drop_allowed(load, signalled - FLUSH_INTERVAL - FLUSH_JITTER, faults.converged)
    instance_after = result["settle_state"]["redis"]["instance"]
    figures = result | {
        "views_lost": result["views_served"] - result["views_counted"],
        "loss": loss,
        "drop_allowed": allowed,
        "snapshot_batch": older["batch"],
        "database_had_taken": taken_before.get(older["id"]),
        "instance_changed": instance_after["id"] != older["id"],
        "server_errors": fleet.errors(),
    }
    record("redis_restored_from_an_older_snapshot", figures, load)

    assert result["statuses"] == {"200": len(load.views)}
    assert result["worst_latency"] < FAST
    assert taken_before[older["id"]] > older["batch"], "the database took batches after the snapshot"
    assert instance_after["id"] != older["id"], "the restored server starts afresh as a new instance"
    assert_loss_bounded(result, loss)
    assert_settled_and_converged(result, faults)
    assert_rising(result, allowed)


def test_redis_restored_from_a_snapshot_taken_with_a_batch_in_flight(
    fleet, redis_server, postgres_cluster, cluster_database
):
    """A snapshot taken while a batch was on its way to a database that was down. Restored once the
    database has taken exactly that batch, it is the same instance still: the batch settles in
    Redis and is not added again, and nothing is lost. Restored again after later batches, it
    starts afresh, and loses at most the views since the last flush."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name) as durable_log, Load(fleet) as load:
        load.wait(1.0)
        # A batch stuck in flight with nothing pending beside it: the load holds while the flushers
        # take everything, the database stops, one view counts and a flusher takes it.
        paused = load.mark("paused", load.pause())
        redis_server.wait_for(lambda state: state["pending"] == 0 and "inflight" not in state["instance"])
        postgres_cluster.stop("fast")
        assert sequential_views(fleet.slots[0], 1)[0] is not None
        stuck = redis_server.wait_for(lambda state: "inflight" in state["instance"])
        snapshot, in_snapshot = redis_server.snapshot("in-flight")
        load.mark("snapshot")
        postgres_cluster.start()
        instance, seq = stuck["instance"]["id"], int(stuck["instance"]["inflight"])
        wait_until(lambda: taken(postgres_cluster, cluster_database.name).get(instance) == seq)
        redis_server.wait_for(lambda state: "inflight" not in state["instance"])
        redis_server.stop()
        redis_server.start(snapshot=snapshot)
        back = load.mark("redis_back_from_the_snapshot")
        load.resume()
        faults.add(paused, back)
        load.wait(1.5)
        load.pause()
        first = settle(postgres_cluster, cluster_database.name, redis_server)
        served_then = len(load.served()) + 1  # and the view counted while the database was down
        # The same snapshot again, now that the database holds later batches than it.
        load.resume()
        load.wait(1.0)
        taken_before = taken(postgres_cluster, cluster_database.name)
        signalled, exited = redis_server.stop()
        load.mark("redis_signalled_again", signalled)
        redis_server.start(snapshot=snapshot)
        back = load.mark("redis_back_from_the_snapshot_again")
        faults.add(signalled, back)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults, other_views=1)
    loss = loss_allowance(load.views, durable_log, signalled, exited)
    allowed = drop_allowed(load, paused, faults.converged)
    instance_after = result["settle_state"]["redis"]["instance"]
    figures = result | {
        "views_lost": result["views_served"] - result["views_counted"],
        "loss": loss,
        "drop_allowed": allowed,
        "batch_in_flight_in_the_snapshot": seq,
        "snapshot_instance": in_snapshot,
        "restored_once_taken": {"redis": first["redis"], "served": served_then, "counted": first["durable"]},
        "database_had_taken_when_restored_again": taken_before.get(instance),
        "instance_changed_the_second_time": instance_after["id"] != instance,
        "server_errors": fleet.errors(),
    }
    record("redis_restored_from_a_snapshot_with_a_batch_in_flight", figures, load)

    assert result["statuses"] == {"200": len(load.views)}
    assert result["worst_latency"] < FAST
    assert in_snapshot["inflight"] == str(seq) and in_snapshot["batch"] == seq
    assert first["redis"]["instance"]["id"] == instance, (
        "restored when the database holds just its batch: the same instance"
    )
    assert first["settled"] and first["durable"] == served_then, (
        f"{first['durable']} counted for {served_then} served: the batch in flight counts once, nothing is lost"
    )
    assert taken_before[instance] > seq
    assert instance_after["id"] != instance, "restored behind the database: it starts afresh"
    assert_loss_bounded(result, loss)
    assert_settled_and_converged(result, faults)
    assert_rising(result, allowed)


def test_redis_restored_from_a_snapshot_while_a_batch_waits_on_the_database(
    fleet, redis_server, postgres_cluster, cluster_database
):
    """Redis restored from a snapshot the database is level with, while a batch the lost server took
    after it still waits on the database (its round blocked on the instance's row): at most what
    the lost server held is lost, the views counted on the restored server each count once, and
    what is shown converges on the durable count."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name) as durable_log, Load(fleet) as load:
        load.wait(1.0)
        load.pause()
        level = redis_server.wait_for(lambda state: state["pending"] == 0 and "inflight" not in state["instance"])
        snapshot, in_snapshot = redis_server.snapshot("level")
        instance = in_snapshot["id"]
        with postgres_cluster.admin(cluster_database.name) as blocker:
            blocker.autocommit = False
            blocker.execute("SELECT taken FROM counter_redisinstance WHERE id = %s FOR UPDATE", [instance])
            load.resume()
            stuck = redis_server.wait_for(lambda state: "inflight" in state["instance"])
            load.wait(0.3)
            load.pause()  # no call fails while Redis restarts: the processes go on counting in Redis
            signalled, exited = redis_server.stop()
            load.mark("redis_signalled", signalled)
            redis_server.start(snapshot=snapshot)
            back = load.mark("redis_back", load.resume())
            load.wait(0.5)
            restored = redis_server.state()
            blocker.commit()
        released = load.mark("database_released")
        faults.add(signalled, released)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    loss = loss_allowance(load.views, durable_log, signalled, exited)
    served_after = sum(v.started >= signalled for v in load.served())
    figures = result | {
        "views_lost": result["views_served"] - result["views_counted"],
        "loss": loss,
        "views_served_after_the_restore": served_after,
        "worst_latency_after_the_restore": worst_latency(load.between(back, released)),
        "level": level,
        "stuck": stuck,
        "restored": restored,
        "server_errors": fleet.errors(),
    }
    record("redis_restored_while_a_batch_waits", figures, load)

    assert result["statuses"] == {"200": len(load.views)}
    assert result["worst_latency"] < FAST, "a view waits for the database at most while Redis is reconciled"
    assert_loss_bounded(result, loss, flushing=False)  # the database held the flushers back
    assert_settled_and_converged(result, faults)
    assert_rising(result, loss["views_since_last_flush"])


def test_redis_url_moved_to_a_new_instance(fleet, redis_server, postgres_cluster, cluster_database, tmp_path):
    """REDIS_URL changed to a new, empty instance: new dynos count there while the old ones go on
    counting on the old instance for several flush intervals; then the old dynos stop with SIGTERM
    and flush on their way out. Nothing is lost or doubled, and the new instance converges."""
    new_redis = RedisServer(tmp_path / "new-redis")
    new_redis.directory.mkdir()
    new_redis.start()
    faults = Faults()
    try:
        with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
            load.wait(1.0)
            old = list(fleet.slots)
            fleet.add(2, REDIS_URL=new_redis.url)
            moved = load.mark("new_dynos_serving")
            load.wait(1.5)
            for dyno in old:
                fleet.remove(dyno)
            retiring = load.mark("old_dynos_retiring")
            exits = [dyno.stop(signal.SIGTERM) for dyno in old]
            stopped = load.mark("old_dynos_stopped")
            faults.add(moved, stopped)
            load.wait(2.5)
        old_redis = redis_server.state()
        result = conclude(fleet, load, new_redis, postgres_cluster, cluster_database, faults)
    finally:
        new_redis.destroy()
    both = load.between(moved, retiring)
    allowed = drop_allowed(load, moved, faults.converged)
    figures = result | {
        "drop_allowed": allowed,
        "views_on_old_dynos_while_both_served": sum(v.port in {d.port for d in old} for v in both),
        "views_on_new_dynos_while_both_served": sum(v.port not in {d.port for d in old} for v in both),
        "old_instance_after_the_old_dynos_stopped": old_redis,
        "old_dynos_exit_statuses": exits,
        "server_errors": fleet.errors(),
    }
    record("redis_url_moved", figures, load)

    assert result["statuses"] == {"200": len(load.views)}
    assert result["worst_latency"] < FAST
    assert figures["views_on_old_dynos_while_both_served"] and figures["views_on_new_dynos_while_both_served"]
    assert exits == [0, 0]
    assert old_redis["pending"] == old_redis["inflight"] == old_redis["dirty"] == 0, (
        "the old dynos flushed on their way out"
    )
    assert_kept_every_view(result, faults, allowed)


# With this interval no flush round runs during the test but each worker's first, at its start:
# views reach the database only when a worker flushes on its way out.
LONG_INTERVAL = 30


def test_dyno_stopped_with_sigterm_flushes_on_its_way_out(redis_server, postgres_cluster, cluster_database):
    """A dyno stopped with SIGTERM right after a burst flushes every view Redis holds on its way out
    (with a flush interval longer than the test, nothing else can have), so Redis restarted empty
    next loses nothing; nor does the rest of the fleet stopping with SIGTERM at the end.

    With this interval a process that Redis's restart sends to the database stays there for the
    rest of the test, so what is shown after it is left to the other scenarios."""
    fleet = Fleet(fleet_environment(cluster_database, redis_server, interval=LONG_INTERVAL)).start()
    try:
        with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
            load.wait(1.5)
            load.mark("burst_ended", load.pause())
            held = redis_server.state()
            durable_before = durable_total(postgres_cluster, cluster_database.name)
            terminated = fleet.replace(0, signal.SIGTERM)
            load.mark("sigterm", terminated["signalled_at"])
            durable_after = durable_total(postgres_cluster, cluster_database.name)
            served_then = len(load.served())
            redis_server.stop()
            redis_server.start()
            load.mark("redis_back_empty", load.resume())
            load.wait(1.5)
            load.pause()
        exits = fleet.stop_all(signal.SIGTERM)
        final = durable_total(postgres_cluster, cluster_database.name)
        redis_after = redis_server.state()
    finally:
        fleet.kill()
    served = len(load.served())
    faults = Faults()
    faults.add(load.events["burst_ended"], load.ended)  # the burst alone was sent with no fault
    order = order_figures(load.views, faults)
    figures = {
        "views_served": served,
        "views_counted": final,
        "worst_drop": order["worst_drop"],
        "longest_run": order["longest_run"],
        "worst_latency": worst_latency(load.views),
        "statuses": statuses(load.views),
        "pending_in_redis_after_the_burst": held["pending"],
        "durable_before_sigterm": durable_before,
        "durable_after_sigterm": durable_after,
        "served_before_sigterm": served_then,
        "sigterm": {k: v for k, v in terminated.items() if k not in {"signalled_at", "stopped_at", "old_port"}},
        "exit_statuses_at_the_end": list(exits.values()),
        "redis_after_the_last_sigterm": redis_after,
        "order": order,
        "logged": engine_log(fleet),
        "server_errors": fleet.errors(),
    }
    record("dyno_sigterm", figures, load)

    assert held["pending"] == served_then - durable_before > 0, "after the burst its views were in Redis only"
    assert terminated["exit_status"] == 0, "SIGTERM stops gunicorn gracefully"
    assert durable_after == served_then, "the dyno stopping flushed every view Redis held"
    assert statuses(load.views) == {"200": len(load.views)}
    assert list(exits.values()) == [0, 0]
    assert final == served, f"{final} counted for {served} served: nothing may be lost or doubled"
    assert redis_after["pending"] == redis_after["inflight"] == 0, "the last dynos flushed on their way out"
    assert order["calm_drops"] == order["calm_regressions"] == order["calm_repeats"] == 0, order


def test_dyno_killed_with_sigkill_loses_only_views_in_flight(fleet, redis_server, postgres_cluster, cluster_database):
    """A dyno killed with SIGKILL under load takes nothing with it but the views in flight, which
    may count without an answer: the views it counted are in Redis, and the flushers of the
    other dynos and of its replacement move them on. What is shown is not disturbed."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        killed = fleet.replace(1, signal.SIGKILL)
        load.mark("sigkill", killed["signalled_at"])
        replaced = load.mark("replaced")
        faults.add(killed["signalled_at"], replaced)
        load.wait(2.5)

    dropped = [v for v in load.views if v.error]
    # Sent to the killed dyno on a connection it had open: the process got it or died first.
    cut_by_kill = [v for v in dropped if v.port == killed["old_port"]]
    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    figures = result | {
        "views_in_flight_cut_off_by_sigkill": len(cut_by_kill),
        "views_without_response": len(dropped),
        "sigkill": {k: v for k, v in killed.items() if k not in {"signalled_at", "stopped_at", "old_port"}},
        "server_errors": fleet.errors(),
    }
    record("dyno_sigkill", figures, load)

    assert all(v.served for v in load.views if not v.error), statuses(load.views)
    assert result["worst_latency"] < FAST
    assert len(dropped) == len(cut_by_kill), "only SIGKILL cuts views off"
    served, counted = result["views_served"], result["views_counted"]
    assert served <= counted <= served + len(cut_by_kill), (
        f"{counted} counted for {served} served, {len(cut_by_kill)} cut off by SIGKILL"
    )
    assert result["settled"], f"the flusher never settled: {result['settle_state']}"
    assert result["sequential_views_after_settling"] == result["expected_sequential_views"]
    assert result["settle_state"]["redis"]["shown"] == result["counted_after_them"], "Redis shows the durable total"
    assert result["exact_after_the_fault"]["wrong"] == 0, "every view after the kill shows the count"
    assert_rising(result, allowed_drop=0)


def test_database_down_with_redis_up(fleet, redis_server, postgres_cluster, cluster_database):
    """The database stopped while Redis answers: the page serves from Redis as fast as ever, the views
    wait in Redis (a batch in flight), and reach the database once it is back, each once."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        stopping = load.mark("database_stopping")
        postgres_cluster.stop("fast")
        load.wait(1.0)
        health_down = fleet.health()
        redis_during = redis_server.state()
        load.wait(0.5)
        postgres_cluster.start()
        back = load.mark("database_back")
        faults.add(stopping, back)
        load.wait(2.5)
        health_back = fleet.health()

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    outage = load.between(stopping, back)
    figures = result | {
        "redis_while_the_database_was_down": redis_during,
        "worst_latency_while_the_database_was_down": worst_latency(outage),
        "p50_latency_while_the_database_was_down": percentile(outage, 0.5),
        "database_down_seconds": round(back - stopping, 2),
        "health": {"database_down": health_down, "database_back": health_back},
        "server_errors": fleet.errors(),
    }
    record("database_down", figures, load)

    assert result["statuses"] == {"200": len(load.views)}, "with Redis up the page does not need the database"
    assert worst_latency(outage) < FAST
    assert "inflight" in redis_during["instance"] and redis_during["pending"] > 0, "views waited in Redis"
    assert_kept_every_view(result, faults, allowed_drop=0)  # Redis answered throughout: numbers only rose
    assert result["longest_run"] == 1
    assert_health(health_down, "degraded", 200, {"redis": "up", "database": "down"})
    assert_health(health_back, "ok", 200, {"redis": "up", "database": "up"})


def test_redis_and_database_both_down(fleet, redis_server, postgres_cluster, cluster_database):
    """Redis away (its data kept), then the database too: while both are away the page answers a
    quick, styled 503 with Retry-After, and once they are back it counts again by itself, from
    where it was, with nothing counted lost or doubled."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        signalled, exited = redis_server.stop(keep_data=True)
        load.mark("redis_signalled", signalled)
        load.wait(0.5)  # views count in the database meanwhile
        postgres_cluster.stop("fast")
        both_down = load.mark("both_down")
        load.wait(0.8)
        health_down = fleet.health()
        stylesheet_path = next((v.stylesheet for v in reversed(load.views) if v.status == 503), None)
        stylesheet = fleet.get(stylesheet_path) if stylesheet_path else None
        load.wait(0.5)
        restarting = load.mark("restarting")
        postgres_cluster.start()
        redis_server.start()
        both_up = load.mark("both_up")
        faults.add(signalled, both_up)
        load.wait(2.5)
        health_back = fleet.health()

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    refused = [v for v in load.views if v.status == 503]
    during = load.between(both_down + 0.1, restarting)
    before = [v for v in load.served() if v.ended <= both_down and v.started >= signalled]
    after = [v for v in load.served() if v.started >= both_up]
    recovered = {
        port: round(min(v.ended for v in after if v.port == port) - both_up, 2)
        for port in {dyno.port for dyno in fleet.slots}
        if any(v.port == port for v in after)
    }
    allowed = drop_allowed(load, signalled, faults.converged)
    figures = result | {
        "drop_allowed": allowed,
        "views_refused_with_503": len(refused),
        "worst_503_latency": worst_latency(refused),
        "retry_after": sorted({v.retry_after for v in refused}, key=str),
        "both_down_seconds": round(restarting - both_down, 2),
        "seconds_to_first_200_per_dyno": recovered,
        "highest_shown_before_both_were_down": max(v.shown for v in before),
        "first_shown_after": min(after, key=lambda v: v.ended).shown,
        "health": {"both_down": health_down, "both_back": health_back},
        "server_errors": fleet.errors(),
    }
    record("both_down", figures, load)

    assert refused, "with neither Redis nor the database the page is refused"
    assert during and all(v.status == 503 for v in during), statuses(during)
    assert set(result["statuses"]) <= {"200", "503"}
    assert worst_latency(refused) < 1.5, "a 503 is quick, not a hung request"
    assert {v.retry_after for v in refused} == {"5"}
    assert all("Back in a moment" in v.body and v.stylesheet for v in refused), "the 503 page is the styled one"
    assert stylesheet is not None and stylesheet.status_code == 200, "its stylesheet is served with both away"
    assert len(recovered) == len(fleet.slots) and max(recovered.values()) < 3.0, recovered
    assert figures["first_shown_after"] > figures["highest_shown_before_both_were_down"], "the count carries on"
    assert_kept_every_view(result, faults, allowed)
    assert_health(health_down, "down", 503, {"redis": "down", "database": "down"})
    assert_health(health_back, "ok", 200, {"redis": "up", "database": "up"})


def test_database_down_then_redis_hung(fleet, redis_server, postgres_cluster, cluster_database):
    """The database stopped, then Redis hangs too (SIGSTOP) with views' calls on their way: while
    both are away the page answers 503; once both are back each view served counts once, and a view
    answered 503 does not count."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        stopping = load.mark("database_stopping")
        postgres_cluster.stop("fast")
        load.wait(0.5)
        paused = load.mark("redis_paused", redis_server.pause())
        load.wait(1.5)
        redis_server.resume()
        postgres_cluster.start()
        back = load.mark("both_back")
        faults.add(stopping, back)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    refused = [v for v in load.views if v.status == 503]
    # Redis held every view since the database stopped, not a flush interval's: the views it alone
    # held when it hung, and a flush interval's, is the most a number may run below another.
    held = sum(
        v.served and v.ended >= stopping - FLUSH_INTERVAL - FLUSH_JITTER and v.started <= paused for v in load.views
    )
    allowed = held + drop_allowed(load, stopping, faults.converged)
    figures = result | {
        "views_redis_alone_held_when_it_hung": held,
        "drop_allowed": allowed,
        "views_refused_with_503": len(refused),
        "slow_503s": sum(v.latency >= 0.5 for v in refused),
        "worst_503_latency": worst_latency(refused),
        "server_errors": fleet.errors(),
    }
    record("database_down_then_redis_hung", figures, load)

    assert refused and set(result["statuses"]) <= {"200", "503"}
    assert worst_latency(refused) < FAST
    assert_kept_every_view(result, faults, allowed)


def test_connections_reset_mid_command(fleet, redis_server, postgres_cluster, cluster_database):
    """Every client connection to Redis closed again and again under load, as in a failover: a
    command may have run with its answer lost. Each view counts once: sent again with the same
    sender and number, or counted in the database when Redis never ran it."""
    faults = Faults()
    with DurableLog(postgres_cluster, cluster_database.name), Load(fleet) as load:
        load.wait(1.5)
        began = load.mark("resets_began")
        killed = []
        while time.monotonic() - began < 2.0:
            killed.append(redis_server.reset_mid_command())
            time.sleep(0.1)
        ended = load.mark("resets_ended")
        faults.add(began, ended)
        load.wait(2.5)

    result = conclude(fleet, load, redis_server, postgres_cluster, cluster_database, faults)
    allowed = drop_allowed(load, began, faults.converged)
    figures = result | {
        "drop_allowed": allowed,
        "resets": len(killed),
        "connections_closed": sum(killed),
        "worst_latency_during_resets": worst_latency(load.between(began, ended)),
        "server_errors": fleet.errors(),
    }
    record("connections_reset", figures, load)

    assert sum(killed) >= len(killed), "each reset closed connections"
    assert result["statuses"] == {"200": len(load.views)}
    assert worst_latency(load.between(began, ended)) < FAST
    assert_kept_every_view(result, faults, allowed)


def test_readiness_follows_each_state(fleet, redis_server, postgres_cluster, cluster_database):
    """/health/ready reports each dependency as it goes and comes: degraded (200) while the page can
    count with one of Redis and the database, down (503) with neither, ok by itself once both are
    back; /health/live answers throughout. The dynos reach the TLS-only cluster over TLS."""
    walk = {"all_up": fleet.health()}
    redis_server.pause()
    walk["redis_unresponsive"] = fleet.health()
    redis_server.resume()
    walk["redis_resumed"] = fleet.health()
    redis_server.stop()
    walk["redis_stopped"] = fleet.health()
    postgres_cluster.stop("fast")
    walk["both_stopped"] = fleet.health()
    page_both_down = fleet.get("/")
    redis_server.start()
    walk["database_stopped"] = fleet.health()
    postgres_cluster.start()
    started = time.monotonic()
    while time.monotonic() - started < 10 and {r["ready"] for r in fleet.health()} != {"ok"}:
        time.sleep(0.1)
    walk["recovered_after_seconds"] = round(time.monotonic() - started, 2)
    walk["all_back"] = fleet.health()
    tls = postgres_cluster.connections_authorized(cluster_database.name)
    walk["app_connections_to_the_database"] = {"total": len(tls), "over_tls": sum(tls)}
    record("readiness", walk)

    assert_health(walk["all_up"], "ok", 200, {"redis": "up", "database": "up", "storage": "up"})
    assert_health(walk["redis_unresponsive"], "degraded", 200, {"redis": "down", "database": "up"})
    assert all(report["ready_seconds"] < FAST for report in walk["redis_unresponsive"])
    assert_health(walk["redis_resumed"], "ok", 200, {"redis": "up", "database": "up"})
    assert_health(walk["redis_stopped"], "degraded", 200, {"redis": "down", "database": "up"})
    assert_health(walk["both_stopped"], "down", 503, {"redis": "down", "database": "down"})
    assert page_both_down.status_code == 503 and page_both_down.headers["Retry-After"] == "5"
    assert_health(walk["database_stopped"], "degraded", 200, {"redis": "up", "database": "down"})
    assert_health(walk["all_back"], "ok", 200, {"redis": "up", "database": "up"})
    assert walk["recovered_after_seconds"] < 5
    assert tls and all(tls), "the dynos reach the TLS-only cluster over TLS"
