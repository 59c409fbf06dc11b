"""The benchmark harness (bench/bench.py): how it pairs each target with the yardstick of its own
round, judges the README's targets, reports them, and that one real run of it works end to end.
Nothing here asserts a speed: the figures are the benchmark's to report, not CI's to judge."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from bench import bench
from counter.engine import scripts
from tests.support.dyno import ROOT
from tests.support.services import POSTGRES_ADMIN_URL, REDIS_TEST_URL, postgres_available, redis_available


def run(target, round_number, rps, p99=10.0, concurrency=2, rss=100.0, boot=0.3, **extra):
    """One measurement as bench.measure records it, with what the summary reads."""
    return {
        "target": target,
        "round": round_number,
        "concurrency": concurrency,
        "rps": rps,
        "requests": 1000,
        "latency_ms": {"p50": p99 / 3, "p90": p99 / 2, "p99": p99},
        "non_2xx": 0,
        "socket_errors": 0,
        "log_problems": 0,
        "counted": 1000,
        "server_cpu_ms_per_request": 0.3,
        "postgres_cpu_ms_per_request": 0.0,
        "redis_server_cpu_ms_per_request": 0.02,
        "client_cpu_ms_per_request": 0.1,
        "rss_mib": rss,
        "pss_mib": rss / 2,
        "boot_s": boot,
    } | extra


def judged(summary):
    return {(check["criterion"], check["web_concurrency"]): check for check in bench.criteria(summary)}


def test_each_round_is_compared_with_the_yardstick_of_that_round():
    runs = [
        run("yardstick", 1, 1000),
        run("redis", 1, 900),
        run("yardstick", 2, 2000),
        run("redis", 2, 1000),  # a round the machine ran fast for the yardstick only
        run("yardstick", 3, 1000),
        run("redis", 3, 800),
    ]
    row = bench.summarize(runs, [2], ["redis", "yardstick"])[2]["targets"]["redis"]
    assert row["rps_ratios"] == [0.9, 0.5, 0.8]
    assert row["rps_ratio"] == 0.8, "the median of the rounds' ratios, not the ratio of the medians (0.9)"
    assert row["rps"] == 900


def test_each_round_serves_every_target_at_every_worker_count_before_the_next_begins():
    order = list(bench.schedule(2, [2, 1], ["redis", "yardstick"]))
    assert order == [
        (1, 2, "redis"),
        (1, 2, "yardstick"),
        (1, 1, "redis"),
        (1, 1, "yardstick"),
        (2, 2, "redis"),
        (2, 2, "yardstick"),
        (2, 1, "redis"),
        (2, 1, "yardstick"),
    ], "a machine slowing over the run must not fall on the worker count measured last"


def test_a_baseline_twin_is_served_beside_its_target_after_it_in_odd_rounds_and_before_it_in_even_ones():
    names = ["redis", "redis@base", "postgres", "postgres@base", "yardstick"]
    order = list(bench.schedule(3, [1], names))
    assert [name for round_number, _, name in order if round_number in (1, 3)] == names * 2
    assert [name for round_number, _, name in order if round_number == 2] == [
        "redis@base",
        "redis",
        "postgres@base",
        "postgres",
        "yardstick",
    ], "so that neither side always follows the other's load"


def test_the_baselines_twins_follow_their_targets_with_databases_of_their_own():
    targets = [t for t in bench.TARGETS if t[0] in ("redis", "static", "postgres", "yardstick")]
    twinned = bench.with_twins(targets, "HEAD (abc1234)")
    assert [t[0] for t in twinned] == ["redis", "redis@base", "postgres", "postgres@base", "static", "yardstick"]
    redis, twin = twinned[0], twinned[1]
    assert twin == ("redis@base", f"{redis[1]}, at HEAD (abc1234)", redis[2], "redis-pg@base", "/")
    assert bench.tree("redis@base", "/tmp/run") == Path("/tmp/run/baseline")
    assert bench.tree("redis", "/tmp/run") == ROOT


def test_the_baselines_redis_database_is_the_one_after_the_benchs():
    assert bench.next_database("redis://127.0.0.1:6379/8") == "redis://127.0.0.1:6379/9"
    assert bench.next_database("redis://:pw@example.com:6380") == "redis://:pw@example.com:6380/1", (
        "no number is database 0"
    )
    assert bench.next_database("rediss://h:6379/3?ssl_cert_reqs=none") == "rediss://h:6379/4?ssl_cert_reqs=none"


def test_each_round_of_a_target_is_divided_by_its_baseline_twin_of_that_same_round():
    runs = [
        run("redis", 1, 1100, p99=9.0, resident_mib=90.0, boot=0.4),
        run("redis@base", 1, 1000, p99=10.0, resident_mib=100.0, boot=0.5),
        run("redis", 2, 2400, p99=8.0, resident_mib=92.0, boot=0.6),  # a round the machine ran fast for both
        run("redis@base", 2, 2000, p99=10.0, resident_mib=104.0, boot=0.7),
        run("redis", 3, 1300, p99=12.0, resident_mib=91.0, boot=0.5),
        run("redis@base", 3, 1000, p99=10.0, resident_mib=101.0, boot=0.9),
        run("redis", 4, 5000),
        run("postgres", 1, 800),
        run("yardstick", 1, 3000),  # no twin of that round, or none at all
        run("redis", 1, 500, concurrency=1),
        run("redis@base", 1, 400, concurrency=1),
    ]
    ab = bench.compare(runs, [2, 1], ["redis", "redis@base", "postgres", "yardstick"])
    row = ab[2]["redis"]
    assert row["rps_ratios"] == pytest.approx([1.1, 1.2, 1.3]), "each round's pair, round 4 having none"
    assert row["rps_ratio"] == pytest.approx(1.2), (
        "the median of the rounds' ratios, not the ratio of the medians (1300 / 1000)"
    )
    assert row["p99_ratios"] == pytest.approx([0.9, 0.8, 1.2]) and row["p99_ratio"] == pytest.approx(0.9)
    assert (row["resident_mib"], row["baseline_resident_mib"]) == (91.0, 101.0)
    assert (row["boot_s"], row["baseline_boot_s"]) == (0.5, 0.7)
    assert (row["rounds"], row["baseline"]) == (3, "redis@base")
    assert list(ab[2]) == ["redis"], "postgres has no twin here, and a twin is no target of its own"
    assert ab[1]["redis"]["rps_ratios"] == [1.25], "each WEB_CONCURRENCY with its own runs"


def test_the_ab_section_gives_each_ratios_median_and_its_lowest_and_highest_round():
    runs = [
        run("redis", 1, 1100, p99=9.0, resident_mib=90.0),
        run("redis@base", 1, 1000, p99=10.0, resident_mib=100.0),
        run("redis", 2, 950, p99=11.0, resident_mib=92.0),
        run("redis@base", 2, 1000, p99=10.0, resident_mib=104.0),
        run("redis", 3, 1020, p99=10.5, resident_mib=91.0),
        run("redis@base", 3, 1000, p99=10.0),
    ]
    text = bench.ab_table(bench.compare(runs, [2], ["redis", "redis@base"]), "HEAD (abc1234)")
    assert text.startswith("A/B: this tree (new) against HEAD (abc1234) (base).")
    assert "WEB_CONCURRENCY=2" in text
    assert re.search(
        r"^redis +1\.02 +0\.95-1\.10 +1\.05 +0\.90-1\.10 +91\.0 +102\.0 +0\.30 +0\.30$", text, re.MULTILINE
    ), text


def test_the_baselines_twins_are_in_the_table_but_judged_on_no_target():
    runs = [
        run("yardstick", 1, 1000),
        run("redis", 1, 900, resident_mib=110.0),
        run("redis@base", 1, 900, resident_mib=130.0),
        run("postgres@base", 1, 100, resident_mib=140.0),
    ]
    summary = bench.summarize(runs, [2], ["redis", "redis@base", "postgres@base", "yardstick"])
    checks = judged(summary)
    assert checks["memory", 2]["value"] == 110.0 and checks["memory", 2]["met"] is True
    assert checks["postgres_rps", 2]["met"] is None, "the baseline's postgres is not the tree's"
    assert "redis@base" not in checks["boot", 2]["detail"]
    labels = {"redis": "r", "redis@base": "r, at HEAD", "postgres@base": "p, at HEAD", "yardstick": "y"}
    lines = bench.table(summary, bench.criteria(summary), labels).splitlines()
    header = next(line for line in lines if line.startswith("target"))
    row = next(line for line in lines if line.startswith("postgres@base "))
    assert header.index("req/s") + len("req/s") == row.index(" 100") + len(" 100"), "the names widen their column"


def test_the_page_meets_its_throughput_target_at_085_of_the_yardstick_and_not_below():
    for rps, met in ((850, True), (849, False)):
        summary = bench.summarize([run("yardstick", 1, 1000), run("redis", 1, rps)], [2], ["redis", "yardstick"])
        assert judged(summary)["redis_rps", 2]["met"] is met


def test_memory_is_judged_on_the_largest_of_any_app_target_with_two_workers_only():
    runs = [
        run("yardstick", 1, 1000, resident_mib=300.0),
        run("redis", 1, 900, resident_mib=110.0),
        run("sqlite", 1, 900, resident_mib=119.0),
        run("yardstick", 2, 1000, resident_mib=300.0),
        run("redis", 2, 900, resident_mib=125.0, rss=250.0),
        run("sqlite", 2, 900, resident_mib=100.0),
    ]
    checks = judged(bench.summarize(runs, [2], ["redis", "sqlite", "yardstick"]))
    assert checks["memory", 2]["value"] == 125.0, (
        "the highest round of the worst target; the yardstick's own is not the app's"
    )
    assert checks["memory", 2]["met"] is False
    assert "the sum of its processes' RSS 250.0 MiB" in checks["memory", 2]["detail"]
    one_worker = judged(bench.summarize([dict(r, concurrency=1) for r in runs], [1], ["redis", "sqlite", "yardstick"]))
    assert ("memory", 1) not in one_worker


def test_memory_is_not_measured_where_the_shared_pages_cannot_be_told():
    summary = bench.summarize([run("yardstick", 1, 1000), run("redis", 1, 900, rss=100.0)], [2], ["redis", "yardstick"])
    check = judged(summary)["memory", 2]
    assert check["met"] is None and check["value"] is None, "not judged on the sum of RSS instead"
    assert "needs root" in check["detail"]


FORKED_PAIR = """
import os, sys
shared = bytearray(64 << 20)
shared[::4096] = b"x" * (len(shared) // 4096)  # every page resident
child = os.fork()
if child == 0:
    sys.stdin.read()
    os._exit(0)
print(os.getpid(), child, flush=True)
sys.stdin.read()
os.waitpid(child, 0)
"""


def test_a_page_that_forked_processes_share_is_counted_once():
    """A forked worker maps its master's pages until it writes to them: the sum of their RSS counts
    such a page twice, the dyno holds it once. (The pair forks in a process of its own: this one
    may run threads, which fork does not copy.)"""
    pair = subprocess.Popen(
        [sys.executable, "-c", FORKED_PAIR], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        pids = [int(pid) for pid in pair.stdout.readline().split()]
        each = bench.memory(pids)
        together = bench.resident_mib(pids)
    finally:
        pair.communicate("", timeout=30)
    assert len(each) == 2 and all(m["rss_mib"] >= 64 for m in each.values()), "each process's RSS holds the 64 MiB"
    if os.geteuid() != 0:
        assert together is None, "page frame numbers read as zeros without root: no figure rather than a wrong one"
        return
    parent = each[pids[0]]["rss_mib"]
    assert 64 <= together <= parent + 4, "the two hold the 64 MiB once, and little the parent does not"


def test_boot_is_judged_on_the_median_of_every_boot_of_the_slowest_configuration():
    """The page and the static file start the same app with the same environment: their boots are
    one sample, not two to take the worse of (which would read the noise of five boots as a
    difference). The yardstick's boot is not the app's."""
    boots = {"redis": (0.3, 0.6, 0.4), "static": (0.5, 0.55, 0.45), "postgres": (0.35, 0.35, 0.35)}
    runs = [run("yardstick", n, 1000, boot=0.9) for n in (1, 2, 3)] + [
        run(target, n, 900, boot=boot)
        for target, times in boots.items()
        for n, boot in zip((1, 2, 3), times, strict=True)
    ]
    targets = ["redis", "postgres", "static", "yardstick"]
    summary = bench.summarize(runs, [2], targets)
    assert summary[2]["targets"]["static"]["boot_s"] == 0.5, "the static target alone would have read 0.5 s"
    check = judged(summary)["boot", 2]
    assert check["value"] == pytest.approx(0.475) and check["met"] is True
    assert "6 boots (redis, static)" in check["detail"]

    slower = runs + [run("sqlite", n, 900, boot=0.7) for n in (1, 2, 3)]
    check = judged(bench.summarize(slower, [2], targets + ["sqlite"]))["boot", 2]
    assert check["value"] == 0.7 and check["met"] is False and "(sqlite)" in check["detail"]


def test_a_target_not_run_is_reported_as_not_measured():
    summary = bench.summarize([run("yardstick", 1, 1000), run("redis", 1, 900)], [2], ["redis", "yardstick"])
    check = judged(summary)["postgres_rps", 2]
    assert check["met"] is None
    assert "PostgreSQL counter) requests/s >= 0.5x yardstick          -  not measured" in bench.table(
        summary, bench.criteria(summary), {"redis": "r", "yardstick": "y"}
    )


def test_the_table_says_plainly_which_targets_are_not_met_and_shows_a_ratio_just_under_as_such():
    summary = bench.summarize([run("yardstick", 1, 1000), run("redis", 1, 849)], [2], ["redis", "yardstick"])
    text = bench.table(summary, bench.criteria(summary), {"redis": "r", "yardstick": "y"})
    assert "counter page (Redis) requests/s >= 0.85x yardstick                 0.849x  NOT MET" in text
    assert "Checks: every response was a 200" in text


def test_each_ratio_target_shows_how_far_its_rounds_spread_around_the_median():
    runs = [
        run("yardstick", 1, 1000, p99=10.0),
        run("redis", 1, 760, p99=12.0),
        run("yardstick", 2, 1000, p99=10.0),
        run("redis", 2, 980, p99=11.0),
        run("yardstick", 3, 1000, p99=10.0),
        run("redis", 3, 820, p99=15.0),
    ]
    summary = bench.summarize(runs, [2], ["redis", "yardstick"])
    text = bench.table(summary, bench.criteria(summary), {"redis": "r", "yardstick": "y"})
    assert "0.820x  NOT MET  (rounds 0.76-0.98)" in text
    assert "1.200x  MET  (rounds 1.10-1.50)" in text
    one_round = bench.summarize(runs[:2], [2], ["redis", "yardstick"])
    assert judged(one_round)["redis_rps", 2]["detail"] == "", "one round has no spread to show"


def test_the_table_lists_every_problem_a_target_had():
    runs = [run("yardstick", 1, 1000), run("redis", 1, 900, non_2xx=3, counted=990, log_problems=1)]
    summary = bench.summarize(runs, [2], ["redis", "yardstick"])
    text = bench.table(summary, bench.criteria(summary), {"redis": "r", "yardstick": "y"})
    assert "Checks: PROBLEMS" in text
    assert "WEB_CONCURRENCY=2 redis: 3 non-2xx responses, 1 warning/error log lines, 10 requests not counted" in text


def test_the_busiest_workers_share_tells_whether_the_load_was_spread_over_the_workers():
    master, first, second = 10, 11, 12
    before = {master: 5, first: 100, second: 100}
    assert bench.busiest_worker_share(before, {master: 6, first: 160, second: 140}, master) == 0.6
    assert bench.busiest_worker_share(before, {master: 6, first: 300, second: 100}, master) == 1.0, (
        "one worker took every connection"
    )
    assert bench.busiest_worker_share({master: 5, first: 100}, {master: 6, first: 300}, master) is None


def test_connections_are_counted_for_the_process_that_accepted_them():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    accepted = [listener.accept()[0] for _ in clients]
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        counts = bench.connections_by_process(port, [os.getpid(), bystander.pid])
        assert counts == {os.getpid(): 3, bystander.pid: 0}, "the clients' own ends, on other ports, are not counted"
        accepted.pop().close()
        assert bench.connections_by_process(port, [os.getpid()]) == {os.getpid(): 2}
    finally:
        bystander.kill()
        bystander.wait()
        for connection in accepted + clients + [listener]:
            connection.close()
    assert bench.connections_by_process(port, [bystander.pid]) == {}, "a process that is gone is left out"


def test_a_run_that_one_worker_served_is_measured_again_and_the_table_says_so():
    shares = iter([1.0, 0.97, 0.55])
    measured = bench.measure_spread(lambda: run("redis", 1, 900, busiest_worker_cpu_share=next(shares)), retries=2)
    assert (measured["busiest_worker_cpu_share"], measured["attempts"]) == (0.55, 3)
    assert measured["lopsided_shares_left_out"] == [1.0, 0.97]

    shares = iter([1.0, 0.81, 0.55])
    kept = bench.measure_spread(lambda: run("redis", 1, 900, busiest_worker_cpu_share=next(shares)), retries=1)
    assert (kept["busiest_worker_cpu_share"], kept["attempts"]) == (0.81, 2), "the last try is kept, lopsided or not"

    for share in (None, 0.8, 0.5):  # one worker, or the load spread well enough
        once = bench.measure_spread(lambda: run("redis", 1, 900, busiest_worker_cpu_share=share), retries=2)
        assert once["attempts"] == 1 and once["lopsided_shares_left_out"] == []

    summary = bench.summarize([run("yardstick", 1, 1000), measured, kept], [2], ["redis", "yardstick"])
    row = summary[2]["targets"]["redis"]
    assert (row["measured_again"], row["lopsided"]) == (3, 1)
    text = bench.table(summary, bench.criteria(summary), {"redis": "page", "yardstick": "yardstick"})
    assert (
        "Spread: 3 run(s) measured again because one worker used over 80% of the workers' CPU; "
        "lopsided still after the retries: WEB_CONCURRENCY=2 redis (1)" in text
    )


def test_the_machines_idle_and_stolen_time_are_told_apart_from_its_busy_time():
    before = (1000, 300, 50)
    assert bench.machine_shares(before, (1200, 350, 90)) == {"idle": 0.25, "steal": 0.2}
    assert bench.machine_shares(before, before) == {"idle": None, "steal": None}, "no tick went by"
    total, idle, stolen = bench.machine_cpu()
    assert 0 <= idle <= total and 0 <= stolen <= total


def test_the_table_says_how_idle_the_machine_stood_and_how_much_the_hypervisor_took():
    runs = [
        run("redis", 1, 900, machine_idle_share=0.04, machine_steal_share=0.02),
        run("redis", 2, 950, machine_idle_share=0.06, machine_steal_share=0.31),
        run("yardstick", 1, 1000, machine_idle_share=0.01, machine_steal_share=0.0),
        run("yardstick", 2, 1000, machine_idle_share=0.01, machine_steal_share=0.12),
    ]
    summary = bench.summarize(runs, [2], ["redis", "yardstick"])
    assert (summary[2]["targets"]["redis"]["idle_share"], summary[2]["targets"]["redis"]["steal_share_max"]) == (
        0.05,
        0.31,
    )
    text = bench.table(summary, bench.criteria(summary), {"redis": "page", "yardstick": "yardstick"})
    assert (
        "Machine: during the loads its CPUs stood idle 1%-5% of the time (median per target), "
        "and the hypervisor took up to 31% of it in a run kept (steal)" in text
    )
    assert (
        "Steal: 0 run(s) measured again because the hypervisor took over 10% of the machine's CPU time; "
        "stolen still after the retries: WEB_CONCURRENCY=2 redis (1), WEB_CONCURRENCY=2 yardstick (1)" in text
    )


def test_a_run_whose_cpus_the_hypervisor_took_is_measured_again_and_the_table_says_so():
    steals = iter([0.3, 0.11, 0.02])
    measured = bench.measure_spread(lambda: run("redis", 1, 900, machine_steal_share=next(steals)), retries=2)
    assert (measured["machine_steal_share"], measured["attempts"]) == (0.02, 3)
    assert (measured["stolen_shares_left_out"], measured["lopsided_shares_left_out"]) == ([0.3, 0.11], [])

    runs = iter(
        [
            run("redis", 1, 500, busiest_worker_cpu_share=1.0),
            run("redis", 1, 600, machine_steal_share=0.2),
            run("redis", 1, 900, busiest_worker_cpu_share=0.5, machine_steal_share=0.0),
        ]
    )
    mixed = bench.measure_spread(lambda: next(runs), retries=2)
    assert (mixed["rps"], mixed["lopsided_shares_left_out"], mixed["stolen_shares_left_out"]) == (900, [1.0], [0.2])

    for share in (None, 0.1, 0.0):  # not measured, or no more than a tenth stolen
        once = bench.measure_spread(lambda: run("redis", 1, 900, machine_steal_share=share), retries=2)
        assert once["attempts"] == 1 and once["stolen_shares_left_out"] == []

    summary = bench.summarize([run("yardstick", 1, 1000), measured, mixed], [2], ["redis", "yardstick"])
    row = summary[2]["targets"]["redis"]
    assert (row["measured_again"], row["measured_again_stolen"], row["stolen"]) == (1, 3, 0)
    text = bench.table(summary, bench.criteria(summary), {"redis": "page", "yardstick": "yardstick"})
    assert (
        "Steal: 3 run(s) measured again because the hypervisor took over 10% of the machine's CPU time; "
        "no run kept lost more" in text
    )


def test_statuses_and_problems_are_read_from_the_apps_own_log_lines():
    log = "\n".join(
        [
            'method=GET path="/" status=200 duration=1ms queue=0 request_id=a client=x fwd="y" bytes=900 user_agent="wrk"',
            'method=GET path="/" status=503 duration=1ms queue=0 request_id=b client=x fwd="y" bytes=900 user_agent="wrk"',
            'method=GET path="/" status=200 duration=1ms queue=0 request_id=c client=x fwd="y" bytes=900 user_agent="wrk"',
            "level=WARNING logger=counter request_id=b Redis unreachable, counting in the database",
            "[2026-11-25 02:00:00 +0000] [7] [INFO] Booting worker with pid: 7",
            "[2026-11-25 02:00:00 +0000] [7] [ERROR] Exception in worker process",
        ]
    )
    assert bench.access_log_statuses(log) == {"200": 2, "503": 1}
    assert [line[:13] for line in bench.log_problems(log)] == ["level=WARNING", "[2026-11-25 0"]


def test_the_chart_is_an_svg_with_a_bar_per_target_and_web_concurrency():
    runs = [run(t, 1, rps, concurrency=c) for c in (2, 1) for t, rps in (("redis", 900), ("yardstick", 1000))]
    svg = bench.chart(bench.summarize(runs, [2, 1], ["redis", "yardstick"]), "bench <&> run")
    root = ElementTree.fromstring(svg)
    titles = [element.text for element in root.iter("{http://www.w3.org/2000/svg}title")]
    assert len(titles) == 8, "2 panels x 2 targets x 2 values of WEB_CONCURRENCY"
    assert "redis, WEB_CONCURRENCY=1: 900.0" in titles


def test_the_command_line_refuses_what_wrk_cannot_do():
    assert (bench.parse_args(["--quick"]).rounds, bench.parse_args(["--quick"]).duration) == (2, 3)
    assert bench.parse_args([]).retries == 2
    assert bench.parse_args(["--baseline", "HEAD", "--targets", "postgres"]).baseline == "HEAD"
    for argv in (
        ["--targets", "redis,nginx"],
        ["--duration", "2.5"],
        ["--rounds", "0"],
        ["--retries", "-1"],
        ["--baseline", "HEAD", "--targets", "static,yardstick"],
    ):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)


def test_the_command_line_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exited:
        bench.parse_args(["--help"])
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "usage: bench/run" in shown
    assert "used over 80% of the workers' CPU" in shown
    for flag in (
        "--quick",
        "--rounds",
        "--duration",
        "--warmup",
        "--concurrency",
        "--targets",
        "--retries",
        "--baseline",
        "--output",
        "--chart",
    ):
        assert flag in shown


def test_the_redis_pages_count_is_read_from_the_key_the_counter_store_writes():
    assert bench.counter_store(ROOT) == (scripts.count("index"), ("base", "pending", "inflight"))


def test_a_revision_with_the_engine_before_is_counted_from_the_key_its_own_code_names(tmp_path):
    (tmp_path / "counter").mkdir()
    (tmp_path / "counter" / "redis_scripts.py").write_text(
        'PREFIX = "herokuapp:counter:"\n\n\ndef total(name):\n    return f"{PREFIX}{name}:total"\n'
    )
    assert bench.counter_store(tmp_path) == ("herokuapp:counter:index:total", None), "a string key, not a hash"
    with pytest.raises(bench.BenchError, match="where does it count"):
        bench.counter_store(tmp_path / "counter")


def wrk_and_services():
    if not shutil.which("wrk"):
        message = "wrk is not installed: apt-get install wrk (bin/test does it as root or through sudo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs wrk: {message}", pytrace=False)
        pytest.skip(message)
    postgres_available()
    redis_available()


@pytest.mark.slow
def test_one_round_of_every_target_runs_end_to_end(tmp_path):
    wrk_and_services()
    output, chart = tmp_path / "results.json", tmp_path / "chart.svg"
    command = [
        sys.executable,
        "bench/bench.py",
        "--concurrency",
        "1",
        "--rounds",
        "1",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--output",
        str(output),
        "--chart",
        str(chart),
    ]
    env = dict(os.environ, BENCH_POSTGRES_URL=POSTGRES_ADMIN_URL, BENCH_REDIS_URL=REDIS_TEST_URL)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "Checks: every response was a 200, with no socket error, no warning in the logs, and every page view counted"
        in result.stdout
    )
    results = json.loads(output.read_text())
    runs = {r["target"]: r for r in results["runs"]}
    assert set(runs) == set(bench.TARGET_NAMES), (
        "every target the README lists: each counter, the static file, the yardstick"
    )
    for page in ("redis", "postgres", "sqlite"):
        requests, counted = runs[page]["requests"], runs[page]["counted"]
        assert 0 < requests <= counted <= requests + 16, (
            f"{page}: every view wrk saw answered, and those still in flight at the end"
        )
    static = runs["static"]
    assert re.fullmatch(r"/static/site\.[0-9a-f]{12}\.css", static["path"]), "the hashed file the page links to"
    encoding = {k.lower(): v for k, v in static["response_headers_sample"].items()}.get("content-encoding")
    assert encoding == "br", "served compressed, as to a browser"
    assert runs["redis"]["processes"] == 2, "the master and its one worker"
    if os.geteuid() == 0:
        assert 0 < runs["redis"]["resident_mib"] < runs["redis"]["rss_mib"], "the worker shares its master's pages"
    assert runs["redis"]["busiest_worker_cpu_share"] is None
    assert runs["redis"]["connections_per_worker"] == [16], "wrk's 16 connections, held by the one worker"
    assert 0 <= runs["redis"]["machine_idle_share"] + runs["redis"]["machine_steal_share"] <= 1
    assert {c["criterion"] for c in results["criteria"]} == {"redis_rps", "postgres_rps", "redis_p99", "boot"}
    assert str(ROOT) not in output.read_text(), "no path of this machine in what gets committed"
    assert ElementTree.parse(chart).getroot().tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.slow
def test_a_baseline_revision_is_served_beside_the_tree_and_compared_end_to_end(tmp_path):
    """HEAD's tree, from git archive, serves redis@base. Its Redis database is the one after the
    bench's: the bench takes the tests' own, or, when that is the last of Redis's sixteen, the one
    before it."""
    wrk_and_services()
    parts = urllib.parse.urlsplit(REDIS_TEST_URL)
    database = int(parts.path.strip("/") or 0)
    bench_redis = parts._replace(path=f"/{database - 1}").geturl() if database == 15 else REDIS_TEST_URL
    output = tmp_path / "results.json"
    command = [
        sys.executable,
        "bench/bench.py",
        "--baseline",
        "HEAD",
        "--targets",
        "redis",
        "--concurrency",
        "1",
        "--rounds",
        "1",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--output",
        str(output),
        "--chart",
        str(tmp_path / "chart.svg"),
    ]
    env = dict(os.environ, BENCH_POSTGRES_URL=POSTGRES_ADMIN_URL, BENCH_REDIS_URL=bench_redis)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every page view counted" in result.stdout, "the baseline's views too, read where its own code keeps them"
    results = json.loads(output.read_text())
    runs = {r["target"]: r for r in results["runs"]}
    assert list(runs) == ["redis", "redis@base"]
    for name, measured in runs.items():
        assert 0 < measured["requests"] <= measured["counted"] <= measured["requests"] + 16, name
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert results["parameters"]["baseline"] == {
        "ref": "HEAD",
        "commit": head,
        "redis": bench.next_database(bench_redis),
    }
    row = results["ab"]["1"]["redis"]
    assert row["rps_ratios"] == [pytest.approx(runs["redis"]["rps"] / runs["redis@base"]["rps"])]
    assert f"A/B: this tree (new) against HEAD ({head[:7]}) (base)." in result.stdout
    assert str(ROOT) not in output.read_text(), "no path of this machine in what gets committed"


@pytest.mark.slow
def test_a_years_stats_csv_is_measured_on_each_store_end_to_end(tmp_path):
    """The rows csv-redis and csv-postgres load ``views.csv?days=366`` of a counter the bench
    creates first, each with its store, and only those rows run when --targets names them."""
    wrk_and_services()
    output = tmp_path / "results.json"
    command = [
        sys.executable,
        "bench/bench.py",
        "--targets",
        "csv-redis,csv-postgres",
        "--concurrency",
        "1",
        "--rounds",
        "1",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--output",
        str(output),
        "--chart",
        str(tmp_path / "chart.svg"),
    ]
    env = dict(os.environ, BENCH_POSTGRES_URL=POSTGRES_ADMIN_URL, BENCH_REDIS_URL=REDIS_TEST_URL)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checks: every response was a 200" in result.stdout, (
        "no 404 for want of the counter, no 429 from the stats' limit"
    )
    runs = {r["target"]: r for r in json.loads(output.read_text())["runs"]}
    assert list(runs) == ["csv-redis", "csv-postgres"]
    for name, measured in runs.items():
        assert measured["path"] == "/stats/bench/page/views.csv?days=366", name
        assert measured["requests"] > 0 and measured["non_2xx"] == 0, name
        headers = {k.lower(): v for k, v in measured["response_headers_sample"].items()}
        assert headers["content-type"] == "text/csv; charset=utf-8", name
