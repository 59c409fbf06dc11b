"""The counter's promise under faults, end to end: two web dynos (two workers each) on one
test-owned redis-server and one test-owned TLS-only PostgreSQL cluster, loaded by client threads
while Redis, the database or a dyno is stopped, paused, killed and brought back.

The promise: every view served is counted exactly once; when Redis loses views it had not flushed
to the database yet (at most one flush interval's worth), the processes that served them restore
them, except views whose Redis call was cut off as it died; no view shows a lower number than
one shown before it, by any process; with Redis down the page answers 200 fast; with the database
down and Redis up it answers 200; with both down it answers a styled 503 with Retry-After and
recovers by itself.

Each scenario's figures go to test-artifacts/faults.json and are printed; every view each load
recorded goes to test-artifacts/faults-views/. A client thread keeps one keep-alive connection,
which one gunicorn worker process serves, so "decreases per connection" are decreases within one
process; "global regressions" are views showing less than one that had ended before they were
sent, on any connection. Neither may happen in these scenarios.
"""

import re
import signal
import time

import pytest

from counter import flusher
from herokuapp.redis_client import READ_TIMEOUT
from tests.faults import (  # noqa: F401 (fleet, redis_server: fixtures)
    FLUSH_INTERVAL,
    WEB_CONCURRENCY,
    Load,
    fleet,
    last_flush_before,
    longest_flush_gap,
    monotonic_figures,
    percentile,
    record,
    redis_server,
    settle,
    watch_outage_views,
    worst_latency,
)
from tests.postgres_cluster import cluster_database, postgres_cluster  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

# gunicorn.conf.py: threads per worker process; each may be inside a Redis call when it hangs.
GTHREADS = 4
PROCESSES = 2 * WEB_CONCURRENCY
# How late a flusher round may come after its interval on a loaded two-CPU machine (a round's own
# duration, the GIL shared with four request threads, other processes).
FLUSH_JITTER = 0.3
FAST = 1.0  # seconds: the most a page may take while a service is down


def counted_after_settling(fleet, postgres_cluster, cluster_database, redis_server, load):
    """Settle, ask for the page once more through a dyno, settle again.

    Returns the figures every scenario reports: views served with 200 (that last one included),
    the durable total, Redis's total, the number the last view showed, and how settling went."""
    first = settle(postgres_cluster, cluster_database.name, redis_server)
    final = fleet.get("/", slot=0)
    match = re.search(r"viewed <strong>([\d,]+)</strong>", final.text)
    second = settle(postgres_cluster, cluster_database.name, redis_server)
    return {
        "views_served": len(load.served()) + (final.status_code == 200),
        "views_counted": second["durable"],
        "redis_total": second["redis"] and second["redis"]["total"],
        "last_view_status": final.status_code,
        "last_view_shown": int(match.group(1).replace(",", "")) if match else None,
        "settled": first["settled"] and second["settled"],
        "settle_seconds": first["seconds"],
        "when_load_ended": {
            "views_pending_in_redis": (first["first"]["redis"] or {}).get("pending"),
            "outage_views_not_merged_into_redis": first["first"]["unmerged"],
            "flush_lock_ttl": (first["first"]["redis"] or {}).get("lock_ttl"),
            "uncertain_hits": first["first"]["uncertain"],
        },
        "settle_state": second,
    }


def assert_never_lower(order):
    """No view showed less than a view that had ended before it was sent: on one connection (one
    worker process), nor anywhere."""
    assert order["decreases_per_connection"] == 0, order["examples_per_connection"]
    assert order["global_regressions"]["views"] == 0, order["global_regressions"]


def assert_consistent(result):
    assert result["last_view_status"] == 200
    assert result["redis_total"] == result["views_counted"], "Redis's total agrees with the database once all is flushed"
    assert result["last_view_shown"] == result["views_counted"], "the last view shows the durable total, itself included"


def redis_loss(load, postgres_cluster, cluster_database, signalled, exited):
    """What Redis may have taken with it when it died at ``signalled`` (exited at ``exited``).

    Views counted in Redis after the flusher last moved a batch to the database are lost with it:
    at most the views served from then until redis-server exited (less a few milliseconds between
    taking a batch and stamping its row). The promise bounds that by one flush interval."""
    last_flush = last_flush_before(postgres_cluster, cluster_database.name, exited)
    since_flush = [v for v in load.served() if v.ended >= (last_flush or 0) - 0.05 and v.started <= exited]
    within_interval = [v for v in load.served() if v.ended >= signalled - FLUSH_INTERVAL and v.started <= exited]
    return {
        "seconds_from_last_flush_to_redis_stop": last_flush and round(signalled - last_flush, 3),
        "views_served_since_last_flush": len(since_flush),
        "views_served_within_one_flush_interval_of_the_stop": len(within_interval),
        "redis_shutdown_seconds": round(exited - signalled, 3),
    }


def assert_loss_bounded(lost, loss):
    assert lost >= 0, f"{-lost} views counted twice"
    assert lost <= loss["views_served_since_last_flush"], f"{lost} views lost, more than Redis held unflushed: {loss}"
    assert loss["seconds_from_last_flush_to_redis_stop"] is not None
    assert loss["seconds_from_last_flush_to_redis_stop"] <= FLUSH_INTERVAL + FLUSH_JITTER, (
        f"Redis held views unflushed for longer than one flush interval: {loss}"
    )


def assert_lost_views_restored(lost):
    """Processes restore the views Redis lost that they saw counted. What stays lost is at most the
    views whose Redis call was cut off as it died (one per request thread), which count in the
    database instead and are left out of the restore in case Redis had counted them too."""
    assert 0 <= lost <= PROCESSES * GTHREADS, f"{lost} views lost, more than the calls Redis could cut off"


def statuses(views):
    found = {}
    for view in views:
        key = str(view.status) if view.status else view.error
        found[key] = found.get(key, 0) + 1
    return found


def assert_health(reports, ready, ready_status, dependencies):
    for report in reports:
        assert report["live_status"] == 200, reports
        assert (report["ready_status"], report["ready"]) == (ready_status, ready), reports
        for name, status in dependencies.items():
            assert report["dependencies"][name] == status, reports


def test_redis_stopped_and_restarted_empty_mid_load(fleet, redis_server, postgres_cluster, cluster_database):
    with Load(fleet) as load:
        load.wait(1.5)
        health_up = fleet.health()
        signalled, exited = redis_server.stop()
        load.mark("redis_signalled", signalled)
        load.mark("redis_exited", exited)
        load.wait(1.0)
        health_down = fleet.health()
        load.wait(1.0)
        redis_server.start()
        back = load.mark("redis_back")
        back_in_redis, went_quiet = watch_outage_views(postgres_cluster, cluster_database.name)
        health_back = fleet.health()

    result = counted_after_settling(fleet, postgres_cluster, cluster_database, redis_server, load)
    served, counted = result["views_served"], result["views_counted"]
    loss = redis_loss(load, postgres_cluster, cluster_database, signalled, exited)
    outage = load.between(signalled, back + 1.0)
    order = monotonic_figures(load)
    figures = {
        **{k: v for k, v in result.items() if k != "settle_state"},
        "views_lost": served - counted,
        "redis_loss": loss,
        "statuses": statuses(load.views),
        "worst_latency_during_outage": worst_latency(outage),
        "p50_latency_during_outage": percentile(outage, 0.5),
        "worst_latency": worst_latency(load.views),
        "redis_down_seconds": round(back - signalled, 2),
        "seconds_until_all_count_in_redis_again": back_in_redis and round(back_in_redis - back, 2),
        "load_seconds": round(load.ended - load.began, 2),
        "order": order,
        "server_errors": fleet.errors(),
        "health": {"up": health_up, "redis_down": health_down, "redis_back": health_back},
    }
    record("redis_restarted_empty", figures, load)
    assert result["settled"], f"the flusher never settled: {result.get('settle_state')}"

    assert statuses(load.views) == {"200": len(load.views)}, "every view is served while Redis is down"
    assert worst_latency(outage) < FAST
    assert_loss_bounded(served - counted, loss)
    assert_lost_views_restored(served - counted)
    assert_consistent(result)
    assert_never_lower(order)
    assert went_quiet, "every process goes back to counting in Redis by itself"
    assert_health(health_up, "ok", 200, {"redis": "up", "database": "up"})
    assert_health(health_down, "degraded", 200, {"redis": "down", "database": "up"})
    assert_health(health_back, "ok", 200, {"redis": "up", "database": "up"})


def test_redis_unresponsive_then_back_with_its_data(fleet, redis_server, postgres_cluster, cluster_database):
    with Load(fleet) as load:
        load.wait(1.5)
        paused = load.mark("paused", redis_server.pause())
        load.wait(1.0)
        health_down = fleet.health()
        load.wait(1.0)
        resumed = load.mark("resumed", redis_server.resume())
        load.wait(0.3)
        redis_after_resume = redis_server.state()
        back_in_redis, went_quiet = watch_outage_views(postgres_cluster, cluster_database.name)
        health_back = fleet.health()

    result = counted_after_settling(fleet, postgres_cluster, cluster_database, redis_server, load)
    served, counted = result["views_served"], result["views_counted"]
    outage = load.between(paused, resumed)
    slow = [v for v in outage if v.latency > 0.25]
    timed_out = [v for v in load.between(paused - FAST, resumed) if v.ended > paused and v.latency >= READ_TIMEOUT]
    down = resumed - paused
    # The breaker lets each process's requests in flight time out once, then one probe per back-off
    # (1 s, then 2 s, 4 s...): a process may pay at most GTHREADS + probes timeouts.
    probes = sum(1 for n in range(10) if 2 ** (n + 1) - 1 <= down)
    order = monotonic_figures(load)
    figures = {
        **{k: v for k, v in result.items() if k != "settle_state"},
        "views_lost": served - counted,
        "statuses": statuses(load.views),
        "views_during_outage": len(outage),
        "slow_views_during_outage": len(slow),
        "slow_views_allowed": PROCESSES * (GTHREADS + probes),
        "views_that_waited_out_the_redis_timeout": len(timed_out),
        "views_counted_twice": max(0, counted - served),
        "worst_latency_during_outage": worst_latency(outage),
        "p50_latency_during_outage": percentile(outage, 0.5),
        "p90_latency_during_outage": percentile(outage, 0.9),
        "redis_unresponsive_seconds": round(down, 2),
        "seconds_until_all_count_in_redis_again": back_in_redis and round(back_in_redis - resumed, 2),
        "redis_0.3s_after_resume": redis_after_resume,
        "longest_seconds_without_a_flush_after_resume": round(
            longest_flush_gap(postgres_cluster, cluster_database.name, resumed, load.ended), 2
        ),
        "load_seconds": round(load.ended - load.began, 2),
        "order": order,
        "server_errors": fleet.errors(),
        "health": {"redis_paused": health_down, "redis_back": health_back},
    }
    record("redis_unresponsive", figures, load)
    assert result["settled"], f"the flusher never settled: {result.get('settle_state')}"

    assert statuses(load.views) == {"200": len(load.views)}
    assert worst_latency(outage) < FAST
    assert len(slow) <= PROCESSES * (GTHREADS + probes), "after one timeout per process the breaker skips Redis"
    assert percentile(outage, 0.5) < 0.1
    assert counted == served, (
        f"{counted} counted for {served} served: Redis kept its data, nothing may be lost or doubled "
        f"({len(timed_out)} views waited out the Redis timeout)"
    )
    assert_never_lower(order)
    assert_consistent(result)
    assert went_quiet, "every process goes back to counting in Redis by itself"
    assert_health(health_down, "degraded", 200, {"redis": "down", "database": "up"})
    assert_health(health_back, "ok", 200, {"redis": "up", "database": "up"})
    assert all(report["ready_seconds"] < FAST for report in health_down)


def test_dynos_restarted_with_sigterm_and_sigkill_mid_load(fleet, redis_server, postgres_cluster, cluster_database):
    with Load(fleet) as load:
        load.wait(1.5)
        terminated = fleet.replace(0, signal.SIGTERM)
        load.mark("sigterm", terminated["signalled_at"])
        load.mark("replaced_after_sigterm")
        load.wait(1.0)
        killed = fleet.replace(1, signal.SIGKILL)
        load.mark("sigkill", killed["signalled_at"])
        load.mark("replaced_after_sigkill")
        load.wait(1.5)

    result = counted_after_settling(fleet, postgres_cluster, cluster_database, redis_server, load)
    served, counted = result["views_served"], result["views_counted"]
    dropped = [v for v in load.views if v.error]
    # In flight when SIGKILL hit: sent to the killed dyno before its processes were gone, never answered.
    cut_by_kill = [v for v in dropped if v.port == killed["old_port"] and v.started <= killed["stopped_at"]]
    flush_gap = longest_flush_gap(postgres_cluster, cluster_database.name, load.began + 0.5, load.ended)
    order = monotonic_figures(load)
    figures = {
        **{k: v for k, v in result.items() if k != "settle_state"},
        "views_lost": max(0, served - counted),
        "views_without_response": len(dropped),
        "views_in_flight_cut_off_by_sigkill": len(cut_by_kill),
        "views_counted_without_response": max(0, counted - served),
        "connections_refused": load.refused,
        "longest_seconds_without_a_flush_under_load": round(flush_gap, 2),
        "statuses": statuses(load.views),
        "worst_latency": worst_latency(load.views),
        "sigterm": {k: v for k, v in terminated.items() if k not in {"signalled_at", "stopped_at", "old_port"}},
        "sigkill": {k: v for k, v in killed.items() if k not in {"signalled_at", "stopped_at", "old_port"}},
        "load_seconds": round(load.ended - load.began, 2),
        "order": order,
        "server_errors": fleet.errors(),
    }
    record("dyno_restarts", figures, load)
    assert result["settled"], f"the flusher never settled: {result.get('settle_state')}"

    assert all(v.status == 200 for v in load.views if not v.error), statuses(load.views)
    assert terminated["exit_status"] == 0, "SIGTERM stops gunicorn gracefully"
    # A request in flight when SIGKILL hit its dyno may have been counted without an answer. SIGTERM
    # lets requests in flight finish, so it cuts off none that counted.
    assert served <= counted <= served + len(cut_by_kill), (
        f"{counted} counted for {served} served; {len(cut_by_kill)} cut off by SIGKILL, {len(dropped)} in all"
    )
    assert_consistent(result)
    assert_never_lower(order)
    # Views waiting in Redis are what Redis would take with it: a dyno killed holding the flush lock
    # stops the others from flushing until the lock expires, and no longer (give or take half a
    # second, while the replacement dyno boots on the same two CPUs).
    assert flush_gap <= FLUSH_INTERVAL + flusher.LOCK_SECONDS + 0.5, (
        f"no view reached the database for {flush_gap:.2f} s after a dyno restart "
        f"(flush lock TTL when the load ended: {result['when_load_ended']['flush_lock_ttl']} s)"
    )


def test_database_down_with_redis_up(fleet, redis_server, postgres_cluster, cluster_database):
    with Load(fleet) as load:
        load.wait(1.5)
        stopping = load.mark("database_stopping")
        postgres_cluster.stop("fast")
        stopped = load.mark("database_stopped")
        load.wait(0.8)
        health_down = fleet.health()
        redis_during = redis_server.state()
        load.wait(1.0)
        postgres_cluster.start()
        back = load.mark("database_back")
        load.wait(2.0)
        health_back = fleet.health()
        load.wait(0.3)

    result = counted_after_settling(fleet, postgres_cluster, cluster_database, redis_server, load)
    served, counted = result["views_served"], result["views_counted"]
    outage = load.between(stopping, back)
    order = monotonic_figures(load)
    figures = {
        **{k: v for k, v in result.items() if k != "settle_state"},
        "views_lost": served - counted,
        "statuses": statuses(load.views),
        "views_during_outage": len(outage),
        "views_pending_in_redis_during_outage": redis_during and redis_during["pending"],
        "worst_latency_during_outage": worst_latency(outage),
        "p50_latency_during_outage": percentile(outage, 0.5),
        "database_stop_seconds": round(stopped - stopping, 2),
        "database_down_seconds": round(back - stopping, 2),
        "longest_seconds_without_a_flush_after_the_database_returned": round(
            longest_flush_gap(postgres_cluster, cluster_database.name, back, load.ended), 2
        ),
        "load_seconds": round(load.ended - load.began, 2),
        "order": order,
        "server_errors": fleet.errors(),
        "health": {"database_down": health_down, "database_back": health_back},
    }
    record("database_down", figures, load)
    assert result["settled"], f"the flusher never settled: {result.get('settle_state')}"

    assert statuses(load.views) == {"200": len(load.views)}, "with Redis up the page does not need the database"
    assert worst_latency(outage) < FAST
    assert redis_during["pending"] > 0, "views waited in Redis while the flusher could not reach the database"
    assert counted == served, f"{counted} counted for {served} served"
    assert_consistent(result)
    assert_never_lower(order)
    assert_health(health_down, "degraded", 200, {"redis": "up", "database": "down"})
    assert_health(health_back, "ok", 200, {"redis": "up", "database": "up"})


def test_redis_and_database_both_down(fleet, redis_server, postgres_cluster, cluster_database):
    with Load(fleet) as load:
        load.wait(1.5)
        signalled, exited = redis_server.stop()
        load.mark("redis_signalled", signalled)
        load.mark("redis_exited", exited)
        load.wait(0.5)  # views go to the database meanwhile
        load.mark("database_stopping")
        postgres_cluster.stop("fast")
        both_down = load.mark("both_down")
        load.wait(0.8)
        health_down = fleet.health()
        stylesheet_path = next((v.stylesheet for v in reversed(load.views) if v.status == 503), None)
        stylesheet = fleet.get(stylesheet_path) if stylesheet_path else None
        load.wait(0.7)
        restarting = load.mark("restarting")
        postgres_cluster.start()
        redis_server.start()
        both_up = load.mark("both_up")
        back_in_redis, went_quiet = watch_outage_views(postgres_cluster, cluster_database.name)
        health_back = fleet.health()

    result = counted_after_settling(fleet, postgres_cluster, cluster_database, redis_server, load)
    served, counted = result["views_served"], result["views_counted"]
    refused = [v for v in load.views if v.status == 503]
    during = load.between(both_down + 0.1, restarting)
    first_refusal = min((v.started for v in refused if v.started >= signalled), default=both_down)
    before = [v for v in load.served() if v.ended <= first_refusal]
    last_before = max(before, key=lambda v: v.ended)
    after = [v for v in load.served() if v.started >= both_up]
    first_after = min(after, key=lambda v: v.ended) if after else None
    recovered = {
        port: round(min(v.ended for v in after if v.port == port) - both_up, 2)
        for port in {v.port for v in load.between(both_up)}
        if any(v.port == port for v in after)
    }
    late = [v for v in load.between(both_up + 3.0) if v.status != 200]
    loss = redis_loss(load, postgres_cluster, cluster_database, signalled, exited)
    order = monotonic_figures(load)
    figures = {
        **{k: v for k, v in result.items() if k != "settle_state"},
        "views_lost": served - counted,
        "redis_loss": loss,
        "statuses": statuses(load.views),
        "views_refused_with_503": len(refused),
        "worst_503_latency": worst_latency(refused),
        "p50_503_latency": percentile(refused, 0.5),
        "retry_after": sorted({v.retry_after for v in refused}, key=str),
        "both_down_seconds": round(restarting - both_down, 2),
        "seconds_to_first_200_per_dyno": recovered,
        "non_200_after_3_seconds": len(late),
        "seconds_until_all_count_in_redis_again": back_in_redis and round(back_in_redis - both_up, 2),
        "last_shown_before_outage": last_before.shown,
        "highest_shown_before_outage": max(v.shown for v in before),
        "first_shown_after_recovery": first_after and first_after.shown,
        "load_seconds": round(load.ended - load.began, 2),
        "order": order,
        "server_errors": fleet.errors(),
        "health": {"both_down": health_down, "both_back": health_back},
    }
    record("both_down", figures, load)
    assert result["settled"], f"the flusher never settled: {result.get('settle_state')}"

    assert refused, "with neither Redis nor the database the page is refused"
    assert during and all(v.status == 503 for v in during), statuses(during)
    assert set(statuses(load.views)) <= {"200", "503"}
    assert worst_latency(refused) < 1.5, "a 503 is quick, not a hung request"
    assert {v.retry_after for v in refused} == {"5"}
    assert all("Back in a moment" in v.body and v.stylesheet for v in refused), "the 503 page is the styled one"
    assert stylesheet is not None and stylesheet.status_code == 200, "its stylesheet is served with both services down"
    assert len(recovered) == len(fleet.slots), f"every dyno serves the page again by itself: {recovered}"
    assert max(recovered.values()) < 3.0, f"...within seconds of the services' return: {recovered}"
    assert not late, statuses(late)
    assert went_quiet, "every process goes back to counting in Redis by itself"
    assert back_in_redis is None or back_in_redis - both_up < 5.0, "...within a few seconds of Redis's return"
    assert first_after.shown >= last_before.shown, "the count carries on from where it was"
    assert_loss_bounded(served - counted, loss)
    assert_lost_views_restored(served - counted)
    assert_consistent(result)
    assert_never_lower(order)
    assert_health(health_down, "down", 503, {"redis": "down", "database": "down"})
    assert_health(health_back, "ok", 200, {"redis": "up", "database": "up"})


def test_readiness_follows_each_state(fleet, redis_server, postgres_cluster, cluster_database):
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
