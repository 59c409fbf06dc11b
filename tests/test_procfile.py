"""The Procfile's processes, run as Heroku runs them: release to completion, web under gunicorn."""

import re
import signal
import sqlite3
import threading
import time

import pytest
import redis

from counter.engine import scripts
from tests.support.dyno import WebDyno, dyno_environment, run_process

pytestmark = pytest.mark.slow


@pytest.fixture
def heroku_env(sqlite_url):
    """A web dyno's environment on Heroku, on the embedded default database."""
    return dyno_environment(
        DYNO="web.1",
        WEB_CONCURRENCY=2,
        SECRET_KEY="e2e-" + "x" * 60,
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=sqlite_url,
    )


@pytest.fixture
def released(heroku_env):
    result = run_process("release", heroku_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return heroku_env


@pytest.fixture
def dyno(released):
    dyno = WebDyno(released).start()
    yield dyno
    dyno.kill()


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_release_migrates_and_is_safe_to_run_twice(request, database):
    # The test server has no TLS, so the URL opts out of the sslmode=require that DYNO implies.
    url = request.getfixturevalue(database) + ("?sslmode=disable" if database == "postgres_url" else "")
    env = dyno_environment(DYNO="release.1", SECRET_KEY="x" * 60, DATABASE_URL=url)
    first = run_process("release", env)
    second = run_process("release", env)
    assert first.returncode == 0, first.stderr
    assert "Applying counter.0001_initial... OK" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "No migrations to apply." in second.stdout


def test_web_dyno_serves_the_counting_page_over_http(dyno):
    first = dyno.get("/")
    second = dyno.get("/")
    assert first.status_code == second.status_code == 200
    assert "This page was viewed <strong>1</strong> time." in first.text
    assert "This page was viewed <strong>2</strong> times." in second.text
    assert first.headers["Strict-Transport-Security"].startswith("max-age=")


def test_web_dyno_redirects_plain_http_to_https(dyno):
    response = dyno.get("/", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code == 301
    assert response.headers["Location"] == "https://localhost/"


def test_web_dyno_rejects_an_unknown_host_with_400(dyno):
    assert dyno.get("/", headers={"Host": "attacker.example"}).status_code == 400


def test_web_dyno_logs_each_request_on_one_line_with_router_details(dyno):
    dyno.get("/", headers={"X-Request-Id": "req-e2e-0001", "X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    dyno.get("/nowhere/", headers={"X-Request-Id": "req-e2e-0002"})
    dyno.stop()
    lines = dyno.output().splitlines()
    access = [line for line in lines if "request_id=req-e2e-0001" in line]
    assert len(access) == 1
    assert re.search(r'method=GET path="/" status=200 duration=\d+ms queue=\d+ms', access[0])
    assert "client=203.0.113.9" in access[0]
    assert 'fwd="198.51.100.1, 203.0.113.9"' in access[0]
    not_found = [line for line in lines if "request_id=req-e2e-0002" in line]
    assert any("logger=django.request" in line and "Not Found" in line for line in not_found)
    assert all(line.strip() for line in lines), "no blank or continuation lines"


def test_web_dyno_binds_port_and_runs_web_concurrency_workers(dyno):
    time.sleep(0.5)
    output = dyno.output()
    assert f":{dyno.port}" in output
    assert output.count("Booting worker") == 2


def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly(dyno, released):
    """A view waiting on the database when SIGTERM arrives still answers; then the dyno exits 0."""
    database = sqlite3.connect(released["DATABASE_URL"].removeprefix("sqlite:///"))
    database.execute("BEGIN IMMEDIATE")  # hold the write lock: the next view waits for it
    responses = []
    in_flight = threading.Thread(target=lambda: responses.append(dyno.get("/")))
    in_flight.start()
    time.sleep(1)
    assert not responses, "the request should be waiting on the database"

    sent_at = time.monotonic()
    dyno.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    database.rollback()
    database.close()
    in_flight.join(timeout=20)
    status = dyno.process.wait(timeout=30)
    exit_seconds = time.monotonic() - sent_at

    assert [response.status_code for response in responses] == [200]
    assert "This page was viewed <strong>1</strong> time." in responses[0].text
    assert status == 0
    assert exit_seconds < 10
    assert "Shutting down: Master" in dyno.output()


def test_web_dyno_without_secret_key_stops_at_start_with_one_line(released):
    env = {name: value for name, value in released.items() if name != "SECRET_KEY"}
    dyno = WebDyno(env)
    with pytest.raises(RuntimeError) as failure:
        dyno.start(timeout=15)
    errors = [line for line in dyno.output().splitlines() if "configuration error" in line]
    assert errors == [errors[0]] and "SECRET_KEY" in errors[0]
    assert "Traceback" not in dyno.output()
    assert "exited with" in str(failure.value)


# The counter store's gunicorn hooks: post_worker_init starts each worker's flusher, which flushes
# at once and then every COUNTER_FLUSH_INTERVAL; worker_exit flushes on the way out. The dynos have
# one worker, so that the only rounds are its first, at start, and its last, at exit.


@pytest.fixture
def redis_env(released, redis_url):
    """The web dyno's environment with Redis, flushing only once a minute: no round of the
    interval's comes within a test."""
    return released | {"REDIS_URL": redis_url, "WEB_CONCURRENCY": "1", "COUNTER_FLUSH_INTERVAL": "60"}


def views_in_database(env):
    """The home page's durable count, read from the dyno's SQLite file."""
    database = sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"))
    try:
        row = database.execute("SELECT views FROM counter_counter WHERE name = 'index'").fetchone()
    finally:
        database.close()
    return row[0] if row else 0


def views_in_redis(redis_url):
    """(base, pending, inflight) of the home page's count in Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        return tuple(int(part or 0) for part in client.hmget(scripts.count("index"), "base", "pending", "inflight"))
    finally:
        client.close()


def started_after_its_first_round(env, redis_url, timeout=10):
    """A web dyno whose worker has finished the round it runs at start (which stamps ``refreshed``
    on the Redis instance), so that views counted from now on wait for its next round."""
    dyno = WebDyno(env).start()
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while client.hget(scripts.INSTANCE, "refreshed") is None:
            assert time.monotonic() < deadline, f"no flush round at start:\n{dyno.output()}"
            time.sleep(0.05)
    finally:
        client.close()
    return dyno


def count_views(dyno, views):
    shown = [dyno.get("/") for _ in range(views)]
    assert [response.status_code for response in shown] == [200] * views
    assert f"viewed <strong>{views}</strong> times." in shown[-1].text


def test_sigterm_flushes_the_views_redis_holds_before_the_dyno_exits(redis_env, redis_url):
    """Every deploy and daily restart sends SIGTERM; the views the worker counted in Redis reach the
    database on its way out, though no flush interval has passed since they were counted."""
    dyno = started_after_its_first_round(redis_env, redis_url)
    try:
        count_views(dyno, 12)
        assert views_in_database(redis_env) == 0
        assert views_in_redis(redis_url) == (0, 12, 0)
        assert dyno.stop() == 0
    finally:
        dyno.kill()
    assert views_in_database(redis_env) == 12
    assert views_in_redis(redis_url) == (12, 0, 0)
    assert "could not flush" not in dyno.output()


def test_a_starting_dyno_flushes_views_left_pending_in_redis_without_serving_a_view(redis_env, redis_url):
    """A dyno killed with SIGKILL leaves its views pending in Redis; the next dyno to start flushes
    them within one flush interval, before anyone views the page."""
    killed = started_after_its_first_round(redis_env, redis_url)
    try:
        count_views(killed, 7)
    finally:
        killed.kill()
    assert views_in_database(redis_env) == 0
    assert views_in_redis(redis_url) == (0, 7, 0)

    interval = 2.0
    dyno = WebDyno(redis_env | {"COUNTER_FLUSH_INTERVAL": str(interval)}).start()  # probes robots.txt only
    try:
        answered = time.monotonic()
        while views_in_database(redis_env) < 7 and time.monotonic() - answered < interval:
            time.sleep(0.05)
        assert views_in_database(redis_env) == 7
        assert views_in_redis(redis_url) == (7, 0, 0)
        assert "viewed <strong>8</strong> times." in dyno.get("/").text
    finally:
        dyno.kill()
