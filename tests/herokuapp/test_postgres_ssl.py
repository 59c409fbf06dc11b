"""On a dyno the app reaches PostgreSQL over TLS, as Heroku Postgres demands, within its connection budget.

The tests run against a cluster of the module's own (tests.support.postgres_cluster) that, like Heroku
Postgres, rejects every connection without TLS. Against it, a URL with no sslmode would use TLS
even off a dyno, because libpq's default sslmode=prefer takes TLS whenever the server offers it;
what DYNO's sslmode=require adds is refusing a server that does not, which only a server without
TLS can show (plain_postgres_cluster).
"""

import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.support.dyno import ROOT, WebDyno, dyno_environment, run_process

pytestmark = pytest.mark.slow

SECRET_KEY = "tls-" + "k" * 60
WEB_CONCURRENCY = 2
THREADS = 4  # gunicorn.conf.py
CONNECTION_BUDGET = WEB_CONCURRENCY * THREADS  # the README: each web dyno holds up to WEB_CONCURRENCY × 4
VIEWS = 100
COUNT = re.compile(r"viewed <strong>([\d,]+)</strong>")
NO_ENCRYPTION = re.compile(
    r'pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "postgres", database "\w+", no encryption'
)


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def shown_count(response):
    assert response.status_code == 200, f"{response.status_code}: {response.text[:300]}"
    return int(COUNT.search(response.text).group(1).replace(",", ""))


def access_statuses(dyno, expected, timeout=5):
    """The status of each page view in the dyno's access log, once ``expected`` are logged (or on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = re.findall(r'path="/" status=(\d+)', dyno.output())
        if len(statuses) >= expected or time.monotonic() > deadline:
            return statuses
        time.sleep(0.05)


class ConnectionWatch(threading.Thread):
    """Samples, every few milliseconds, the server's client connections to one database and their TLS state."""

    def __init__(self, cluster, database):
        super().__init__(daemon=True)
        self.cluster, self.database = cluster, database
        self.samples = []  # one list of (pid, ssl) per sample
        self.stopping = threading.Event()

    def run(self):
        with self.cluster.admin() as admin:
            while not self.stopping.is_set():
                self.samples.append(connections(admin, self.database))
                time.sleep(0.005)

    def __enter__(self):
        self.start()
        while not self.samples:
            time.sleep(0.005)
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.join(timeout=10)

    @property
    def most(self):
        return max(len(sample) for sample in self.samples)

    @property
    def seen(self):
        return {pid: ssl for sample in self.samples for pid, ssl in sample}


def connections(admin, database):
    return admin.execute(
        "SELECT a.pid, s.ssl FROM pg_stat_activity a LEFT JOIN pg_stat_ssl s USING (pid) "
        "WHERE a.datname = %s AND a.backend_type = 'client backend' ORDER BY a.pid",
        [database],
    ).fetchall()


@pytest.fixture
def web_env(cluster_database):
    return dyno_environment(
        DYNO="web.1",
        WEB_CONCURRENCY=WEB_CONCURRENCY,
        ALLOWED_HOSTS="localhost",
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=cluster_database.url,
    )


@pytest.fixture
def web_dyno(web_env):
    release = run_process("release", dict(web_env, DYNO="release.1"))
    assert release.returncode == 0, release.stdout + release.stderr
    dyno = WebDyno(web_env).start()
    yield dyno
    dyno.kill()


def test_the_cluster_accepts_only_tls_with_the_password(postgres_cluster):
    url = postgres_cluster.url.replace("postgres://", "postgresql://")
    with psycopg.connect(url, sslmode="require", connect_timeout=5) as connection:
        assert connection.pgconn.ssl_in_use
        assert connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
    with pytest.raises(psycopg.OperationalError, match=NO_ENCRYPTION):
        psycopg.connect(url, sslmode="disable", connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "postgres"'):
        psycopg.connect(url.replace(postgres_cluster.password, "wrong"), sslmode="require", connect_timeout=5)


def test_check_on_a_dyno_connects_over_tls_with_no_sslmode_in_the_url(cluster_database):
    assert "sslmode" not in cluster_database.url
    cluster = cluster_database.cluster
    since = cluster.log_size()
    result = manage(
        "check", env=dyno_environment(DYNO="run.1", SECRET_KEY=SECRET_KEY, DATABASE_URL=cluster_database.url)
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert cluster.connections_authorized(cluster_database.name, since) == [True], "one connection, over TLS"


def test_a_dyno_refuses_a_server_without_tls_that_a_client_elsewhere_would_accept(plain_postgres_cluster):
    url = plain_postgres_cluster.url
    on_a_dyno = manage("check", env=dyno_environment(DYNO="run.1", SECRET_KEY=SECRET_KEY, DATABASE_URL=url))
    assert on_a_dyno.returncode == 1
    errors = [line for line in on_a_dyno.stderr.splitlines() if "herokuapp.E001" in line]
    assert len(errors) == 1 and "server does not support SSL, but SSL was required" in errors[0], on_a_dyno.stderr
    elsewhere = manage("check", env=dyno_environment(SECRET_KEY=SECRET_KEY, DATABASE_URL=url))
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert plain_postgres_cluster.connections_authorized("postgres") == [False], "one plain connection, from elsewhere"


def test_release_on_a_dyno_migrates_over_tls(cluster_database):
    cluster = cluster_database.cluster
    since = cluster.log_size()
    result = run_process(
        "release", dyno_environment(DYNO="release.1", SECRET_KEY=SECRET_KEY, DATABASE_URL=cluster_database.url)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applying counter.0001_initial... OK" in result.stdout
    used_tls = cluster.connections_authorized(cluster_database.name, since)
    assert used_tls and all(used_tls), used_tls
    with cluster.admin(cluster_database.name) as admin:
        assert admin.execute("SELECT to_regclass('counter_counter') IS NOT NULL").fetchone() == (True,)


def test_sslmode_disable_in_the_url_is_refused_by_a_tls_only_server(cluster_database):
    cluster = cluster_database.cluster
    since = cluster.log_size()
    env = dyno_environment(
        DYNO="release.1", SECRET_KEY=SECRET_KEY, DATABASE_URL=cluster_database.url + "?sslmode=disable"
    )

    check = manage("check", env=env)
    assert check.returncode == 1
    errors = [line for line in check.stderr.splitlines() if "herokuapp.E001" in line]
    assert len(errors) == 1 and "DATABASE_URL: cannot connect to the database" in errors[0], check.stderr
    assert NO_ENCRYPTION.search(errors[0]), errors[0]

    release = run_process("release", env)
    assert release.returncode != 0
    assert NO_ENCRYPTION.search(release.stderr), release.stderr
    assert "Applying" not in release.stdout
    assert cluster.connections_authorized(cluster_database.name, since) == []


def test_web_dyno_counts_concurrent_views_over_tls_within_its_connection_budget(web_dyno, cluster_database):
    cluster = cluster_database.cluster
    since = cluster.log_size()
    with ConnectionWatch(cluster, cluster_database.name) as watch:
        with ThreadPoolExecutor(max_workers=16) as pool:
            shown = list(pool.map(lambda _: shown_count(web_dyno.get("/")), range(VIEWS)))
        assert shown_count(web_dyno.get("/")) == VIEWS + 1
    assert sorted(shown) == list(range(1, VIEWS + 1)), "every view counted exactly once"

    assert watch.seen, "the sampler saw the dyno's connections"
    assert all(ssl is True for ssl in watch.seen.values()), watch.seen
    assert watch.most <= CONNECTION_BUDGET, f"{watch.most} connections at once, budget {CONNECTION_BUDGET}"
    # Persistent connections: 101 views were served on at most one connection per thread, each over TLS.
    opened = cluster.connections_authorized(cluster_database.name, since)
    assert 1 <= len(opened) <= CONNECTION_BUDGET and all(opened), opened


def test_web_dyno_reconnects_on_the_first_view_after_postgres_restarts(web_dyno, cluster_database):
    """CONN_HEALTH_CHECKS: a connection PostgreSQL dropped is checked, discarded and replaced, unseen."""
    cluster = cluster_database.cluster

    def views(count):
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(lambda _: shown_count(web_dyno.get("/")), range(count)))

    # Busy every worker thread until each holds its persistent connection, so that whichever thread
    # serves the first view after the restart holds a dead one.
    before = []
    for _ in range(10):
        before += views(32)
        with cluster.admin() as admin:
            held = {pid for pid, _ in connections(admin, cluster_database.name)}
        if len(held) == CONNECTION_BUDGET:
            break
    assert len(held) == CONNECTION_BUDGET, f"{len(held)} of {CONNECTION_BUDGET} threads kept a connection"
    assert sorted(before) == list(range(1, len(before) + 1))

    since = cluster.log_size()
    cluster.restart("fast")  # ends every session: each persistent connection is now dead

    assert shown_count(web_dyno.get("/")) == len(before) + 1, "the very first view after the restart is counted"
    after = views(40)
    assert sorted(after) == list(range(len(before) + 2, len(before) + 42)), "every thread replaced its dead connection"

    with cluster.admin() as admin:
        now = {pid for pid, _ in connections(admin, cluster_database.name)}
    assert now and not now & held
    opened = cluster.connections_authorized(cluster_database.name, since)
    assert 1 <= len(opened) <= CONNECTION_BUDGET and all(opened), opened
    total = len(before) + 41
    assert access_statuses(web_dyno, expected=total) == ["200"] * total, "no view failed, before the restart or after"
