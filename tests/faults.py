"""Fault injection for end-to-end tests of the page-view counter.

A fleet of web dynos (tests.dyno.WebDyno) shares one test-owned redis-server and one test-owned
PostgreSQL cluster (tests.postgres_cluster), so that a test may stop, pause, kill and restart
either of them under load without touching the shared services on this machine. Clients in
threads load the fleet over keep-alive HTTP connections and record every response; helpers then
read the durable total straight from the database and wait for the flusher to settle.

Import the fixtures into a test module that uses them::

    from tests.faults import fleet, redis_server  # noqa: F401
    from tests.postgres_cluster import cluster_database, postgres_cluster  # noqa: F401

A client thread keeps one connection for as long as the dyno keeps it open, and gunicorn's gthread
worker serves a connection from one process only, so the numbers shown on one connection are the
numbers one worker process showed, in order.
"""

import http.client
import itertools
import json
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from counter import redis_scripts as keys
from counter.views import PAGE
from tests.dyno import ROOT, WebDyno, dyno_environment, run_process
from tests.services import free_port

HOST = "herokuapp-faults-0f1e2d3c.herokuapp.com"
COUNT = re.compile(r"viewed <strong>([\d,]+)</strong>")
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/site\.[0-9a-f]{12}\.css)">')
ARTIFACT = ROOT / "test-artifacts" / "faults.json"
FLUSH_INTERVAL = 0.2
WEB_CONCURRENCY = 2


def headers(request_id=None):
    """What Heroku's router adds to a request it received over HTTPS for the app's domain."""
    sent = {
        "Host": HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Port": "443",
        "X-Request-Start": str(int(time.time() * 1000)),
    }
    if request_id:
        sent["X-Request-Id"] = request_id
    return sent


# --- Redis -----------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own, without persistence: stopped, it comes back empty.

    ``stop()`` (SIGTERM, as a platform does) and ``start()`` reuse the same port; ``pause()`` and
    ``resume()`` (SIGSTOP, SIGCONT) leave it accepting connections but answering nothing, with its
    data kept.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.port = None
        self.process = None
        self.paused = False
        self.starts = 0

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout=2.0):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def start(self, timeout=10):
        """Start on the port it had (a free one the first time); return once it answers PING."""
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not on PATH (apt-get install redis-server)")
        attempts = 3 if self.port is None else 1
        for _ in range(attempts):
            port = self.port or free_port()
            log = open(self.directory / f"redis-{port}-{self.starts}.log", "w")
            self.process = subprocess.Popen(
                [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--dir", str(self.directory)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
            log.close()
            self.starts += 1
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5) as probe:
                        if probe.ping():
                            self.port = port
                            return self
                except redis.RedisError:
                    time.sleep(0.02)
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f"redis-server did not start on port {port}: {self.output()}")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the server and wait for it to exit; return (signalled_at, exited_at) in monotonic time."""
        self.resume()
        signalled = time.monotonic()
        self.process.send_signal(sig)
        self.process.wait(timeout=timeout)
        return signalled, time.monotonic()

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True
        return time.monotonic()

    def resume(self):
        if self.paused and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False
        return time.monotonic()

    def destroy(self):
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self):
        return "\n".join(path.read_text(errors="replace")[-2000:] for path in sorted(self.directory.glob("redis-*.log")))

    def state(self, name=PAGE):
        """The counter's keys as Redis holds them now (None when Redis does not answer)."""
        try:
            with self.client() as client:
                total, pending = client.get(keys.total(name)), client.hget(keys.meta(name), "pending")
                return {
                    "total": None if total is None else int(total),
                    "pending": int(pending or 0),
                    "dirty": client.scard(keys.DIRTY),
                    "inflight": len(list(client.scan_iter(match=keys.INFLIGHT_PATTERN))),
                    "lock_ttl": client.ttl(keys.FLUSH_LOCK),
                }
        except redis.RedisError:
            return None


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of this test's own (``--save "" --appendonly no``), gone afterwards."""
    server = RedisServer(tmp_path).start()
    yield server
    server.destroy()


# --- the database ----------------------------------------------------------------------------


def durable_total(cluster, database, name=PAGE):
    """The views the database holds for ``name`` (flushed plus outage rows), read over the admin socket."""
    with cluster.admin(database) as connection:
        return int(connection.execute(
            "SELECT COALESCE((SELECT views FROM counter_counter WHERE name = %s), 0)"
            " + COALESCE((SELECT SUM(views) FROM counter_outageview WHERE name = %s), 0)",
            [name, name],
        ).fetchone()[0])


def last_flush_before(cluster, database, moment):
    """When the last batch of views reached the database before ``moment`` (monotonic seconds), in
    monotonic seconds; None if none had. A batch's row is stamped when its transaction starts."""
    offset = time.time() - time.monotonic()
    with cluster.admin(database) as connection:
        (last,) = connection.execute(
            "SELECT EXTRACT(EPOCH FROM MAX(created)) FROM counter_flushedbatch WHERE created < to_timestamp(%s)",
            [moment + offset],
        ).fetchone()
    return None if last is None else float(last) - offset


def flush_times(cluster, database, start, end):
    """When batches of views reached the database between ``start`` and ``end`` (monotonic seconds)."""
    offset = time.time() - time.monotonic()
    with cluster.admin(database) as connection:
        rows = connection.execute(
            "SELECT EXTRACT(EPOCH FROM created) FROM counter_flushedbatch"
            " WHERE created >= to_timestamp(%s) AND created <= to_timestamp(%s) ORDER BY created",
            [start + offset, end + offset],
        ).fetchall()
    return [float(row[0]) - offset for row in rows]


def longest_flush_gap(cluster, database, start, end):
    """The longest time between ``start`` and ``end`` in which no batch reached the database."""
    moments = [start, *flush_times(cluster, database, start, end), end]
    return max(later - earlier for earlier, later in zip(moments, moments[1:]))


def outage_rows(cluster, database, name=PAGE):
    """{outage id: views} of the views counted in the database while Redis was unreachable."""
    with cluster.admin(database) as connection:
        rows = connection.execute("SELECT outage, views FROM counter_outageview WHERE name = %s", [name]).fetchall()
    return {str(outage): views for outage, views in rows}


def watch_outage_views(cluster, database, quiet=1.5, limit=8.0, every=0.1):
    """Watch the views counted in the database while Redis was unreachable until none has been
    added for ``quiet`` seconds (every process counts in Redis again), or ``limit`` seconds pass.

    Returns (monotonic time of the last increase seen or None, whether it went quiet)."""
    began = time.monotonic()
    last_change, last_total = None, None
    while time.monotonic() - began < limit:
        try:
            total = sum(outage_rows(cluster, database).values())
        except psycopg.Error:
            total = None
        now = time.monotonic()
        if total is not None and last_total is not None and total > last_total:
            last_change = now
        last_total = total if total is not None else last_total
        if last_total is not None and now - (last_change or began) >= quiet:
            return last_change, True
        time.sleep(every)
    return last_change, False


def unmerged(redis_server, rows, name=PAGE):
    """Views of outage rows that Redis's total does not include yet (by its merged markers)."""
    with redis_server.client() as client:
        missing = 0
        for outage, views in rows.items():
            missing += max(0, views - int(client.get(keys.merged(outage, name)) or 0))
        return missing


def uncertain_hits(cluster, database):
    """Views counted in the database whose failed Redis call may have counted them too, not yet
    settled by the flusher (0 where the app keeps no such record)."""
    with cluster.admin(database) as connection:
        if connection.execute("SELECT to_regclass('counter_uncertainhit')").fetchone()[0] is None:
            return 0
        return connection.execute("SELECT COUNT(*) FROM counter_uncertainhit").fetchone()[0]


def settle(cluster, database, redis_server, interval=FLUSH_INTERVAL, timeout=25):
    """Wait until the flusher has moved every view to the database and merged every outage view.

    Settled: nothing pending or in flight in Redis, no view of uncertain standing left, every outage
    row merged into Redis's total (if Redis has one), and the durable total unchanged over two
    flush intervals. Returns what was
    seen last, with ``settled`` False if that never happened within ``timeout``.
    """
    began = time.monotonic()
    stable_since, last = None, None
    seen, first = {}, None
    while time.monotonic() - began < timeout:
        try:
            durable = durable_total(cluster, database)
            rows = outage_rows(cluster, database)
            uncertain = uncertain_hits(cluster, database)
        except psycopg.Error:
            durable = rows = uncertain = None
        redis_state = redis_server.state()
        try:
            has_total = rows is not None and redis_state is not None and redis_state["total"] is not None
            missing = unmerged(redis_server, rows) if has_total else None
        except redis.RedisError:
            missing = None
        seen = {"durable": durable, "redis": redis_state, "unmerged": missing, "uncertain": uncertain}
        first = first or seen
        quiet = (
            durable is not None and redis_state is not None
            and redis_state["pending"] == 0 and redis_state["dirty"] == 0 and redis_state["inflight"] == 0
            and missing in (None, 0) and uncertain == 0
        )
        if quiet and durable == last:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 2 * interval:
                return seen | {"settled": True, "seconds": round(time.monotonic() - began, 2), "first": first}
        else:
            stable_since = None
        last = durable if quiet else None
        time.sleep(interval / 2)
    return seen | {"settled": False, "seconds": round(time.monotonic() - began, 2), "first": first}


# --- the dynos -------------------------------------------------------------------------------


class Fleet:
    """Web dynos of one app behind a stand-in for Heroku's router: ``slots[i]`` is the dyno serving
    slot i, which ``replace(i)`` swaps for a freshly booted one."""

    def __init__(self, env, size=2):
        self.env = env
        self.size = size
        self.slots = []
        self.retired = []
        self.release = None

    def start(self):
        self.release = run_process("release", self.env | {"DYNO": "release.1"})
        assert self.release.returncode == 0, self.release.stdout + self.release.stderr
        self.slots = self._boot([f"web.{n + 1}" for n in range(self.size)])
        return self

    def _boot(self, names):
        dynos = [WebDyno(self.env | {"DYNO": name}) for name in names]
        errors = []

        def boot(dyno):
            try:
                dyno.start()
            except Exception as error:  # reported below, after every boot has ended
                errors.append(error)

        threads = [threading.Thread(target=boot, args=(dyno,)) for dyno in dynos]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            for dyno in dynos:
                dyno.kill()
            raise errors[0]
        return dynos

    def replace(self, slot, sig):
        """Stop slot's dyno with ``sig`` (SIGTERM: graceful; SIGKILL: the whole process group at once)
        and put a new dyno in its place. Returns the figures of the restart."""
        old = self.slots[slot]
        began = time.monotonic()
        if sig == signal.SIGKILL:
            old.kill()
            status = old.process.returncode
        else:
            status = old.stop(sig)
        stopped = time.monotonic()
        self.retired.append(old)
        (new,) = self._boot([old.env["DYNO"]])
        self.slots[slot] = new
        return {
            "signal": signal.Signals(sig).name,
            "exit_status": status,
            "stop_seconds": round(stopped - began, 2),
            "boot_seconds": round(new.boot_seconds, 2),
            "signalled_at": began,
            "stopped_at": stopped,
            "old_port": old.port,
        }

    def kill(self):
        for dyno in self.slots + self.retired:
            dyno.kill()

    def get(self, path="/", slot=0):
        return self.slots[slot].get(path, headers=headers())

    def health(self):
        """/health/ready and /health/live of every dyno now."""
        reports = []
        for slot in range(len(self.slots)):
            began = time.monotonic()
            ready = self.get("/health/ready", slot)
            seconds = time.monotonic() - began
            live = self.get("/health/live", slot)
            body = ready.json()
            reports.append({
                "ready_status": ready.status_code,
                "ready": body["status"],
                "dependencies": {name: report["status"] for name, report in body["dependencies"].items()},
                "ready_seconds": round(seconds, 3),
                "live_status": live.status_code,
            })
        return reports

    def output(self):
        return "\n".join(f"--- {dyno!r}\n{dyno.output()[-4000:]}" for dyno in self.retired + self.slots)

    def errors(self, limit=5):
        """The ends of the distinct ERROR lines the dynos logged (each ends with the exception)."""
        found = []
        for dyno in self.retired + self.slots:
            for line in dyno.output().splitlines():
                if "level=ERROR" in line and "Service Unavailable" not in line:
                    end = line[-240:]
                    if end not in found:
                        found.append(end)
        return found[:limit]


@pytest.fixture
def fleet(cluster_database, redis_server):
    """Two released web dynos (WEB_CONCURRENCY=2) on the test's Redis and its TLS-only PostgreSQL."""
    env = dyno_environment(
        SECRET_KEY="faults-" + "f" * 60,
        WEB_CONCURRENCY=WEB_CONCURRENCY,
        DATABASE_URL=cluster_database.url,  # DYNO is set, so sslmode=require: the cluster demands TLS
        REDIS_URL=redis_server.url,
        COUNTER_FLUSH_INTERVAL=FLUSH_INTERVAL,
        HEROKU_APP_DEFAULT_DOMAIN_NAME=HOST,
    )
    fleet = Fleet(env).start()
    yield fleet
    fleet.kill()


# --- load ------------------------------------------------------------------------------------


@dataclass
class View:
    """One request for the home page, as its client saw it (times in monotonic seconds)."""

    thread: int
    connection: int
    port: int
    started: float
    ended: float
    status: int | None = None
    shown: int | None = None
    retry_after: str | None = None
    stylesheet: str | None = None
    body: str = ""
    error: str | None = None  # set when no response came back: the view may or may not have counted

    @property
    def latency(self):
        return self.ended - self.started


class Load:
    """Client threads asking for the home page without pause (but ``think`` seconds), each over a
    keep-alive connection to its own slot of the fleet, until the ``with`` block ends.

    A thread that cannot connect to its slot's dyno (stopped, not yet replaced) tries the other
    slots, as the router would. Connections refused are not views (``refused`` counts them).
    """

    def __init__(self, fleet, threads=8, think=0.01, timeout=10):
        self.fleet = fleet
        self.threads = threads
        self.think = think
        self.timeout = timeout
        self.views = []
        self.refused = 0
        self.events = {}
        self._stop = threading.Event()
        self._serial = itertools.count(1)
        self._workers = []

    def __enter__(self):
        self.began = time.monotonic()
        self._workers = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        if not self._stop.is_set():
            self._stop.set()
            for worker in self._workers:
                worker.join(timeout=self.timeout + 5)
            self.ended = time.monotonic()

    def wait(self, seconds):
        time.sleep(seconds)

    def mark(self, name, at=None):
        self.events[name] = time.monotonic() if at is None else at
        return self.events[name]

    def _connect(self, home):
        slots = self.fleet.slots
        for offset in range(len(slots)):
            dyno = slots[(home + offset) % len(slots)]
            connection = http.client.HTTPConnection("127.0.0.1", dyno.port, timeout=self.timeout)
            try:
                connection.connect()
            except OSError:
                self.refused += 1
                continue
            return connection, dyno.port, next(self._serial)
        return None, None, None

    def _run(self, number):
        home = number % len(self.fleet.slots)
        connection = port = serial = None
        requests = itertools.count(1)
        while not self._stop.is_set():
            if connection is None or connection.sock is None:
                if connection is not None:
                    connection.close()
                connection, port, serial = self._connect(home)
                if connection is None:
                    time.sleep(0.02)
                    continue
            started = time.monotonic()
            try:
                connection.request("GET", "/", headers=headers(f"faults-{number}-{next(requests)}"))
                response = connection.getresponse()
                body = response.read().decode()
            except (OSError, http.client.HTTPException) as error:
                self.views.append(View(number, serial, port, started, time.monotonic(), error=type(error).__name__))
                connection.close()
                connection = None
                time.sleep(0.02)
                continue
            view = View(number, serial, port, started, time.monotonic(), status=response.status,
                        retry_after=response.getheader("Retry-After"))
            if response.status == 200:
                match = COUNT.search(body)
                view.shown = int(match.group(1).replace(",", "")) if match else None
            else:
                view.body = body
            stylesheet = STYLESHEET.search(body)
            view.stylesheet = stylesheet.group(1) if stylesheet else None
            self.views.append(view)
            if self.think:
                time.sleep(self.think)
        if connection is not None:
            connection.close()

    # What the views show.

    def between(self, start=None, end=None):
        """Views that started in [start, end)."""
        return [v for v in self.views if (start is None or v.started >= start) and (end is None or v.started < end)]

    def served(self, views=None):
        return [v for v in (self.views if views is None else views) if v.status == 200]

    def at(self, seconds):
        return round(seconds - self.began, 3)


def worst_latency(views):
    return round(max((v.latency for v in views), default=0.0), 3)


def percentile(views, fraction):
    latencies = sorted(v.latency for v in views)
    if not latencies:
        return 0.0
    return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))], 3)


def decreases(views, key):
    """Where, among the 200 views grouped by ``key`` and in the order they were sent, a number shown
    is lower than one shown before it in the same group: [(group, earlier, later)]."""
    groups = {}
    for view in sorted((v for v in views if v.status == 200 and v.shown is not None), key=lambda v: v.started):
        groups.setdefault(key(view), []).append(view.shown)
    found = []
    for group, shown in groups.items():
        highest = 0
        for number in shown:
            if number < highest:
                found.append((group, highest, number))
            highest = max(highest, number)
    return found


def global_regressions(views):
    """Views that showed a lower number than some view which had ended before they were sent."""
    served = [v for v in views if v.status == 200 and v.shown is not None]
    by_end = sorted(served, key=lambda v: v.ended)
    found, highest, index = [], 0, 0
    for view in sorted(served, key=lambda v: v.started):
        while index < len(by_end) and by_end[index].ended < view.started:
            highest = max(highest, by_end[index].shown)
            index += 1
        if view.shown < highest:
            found.append((highest, view.shown, view.port))
    return {
        "views": len(found),
        "largest_drop": max((earlier - later for earlier, later, _ in found), default=0),
        "examples": found[:5],  # (the highest shown before, the lower number, the dyno's port)
    }


def duplicates(views):
    """Numbers shown to more than one view."""
    shown = [v.shown for v in views if v.status == 200 and v.shown is not None]
    return len(shown) - len(set(shown))


def monotonic_figures(load):
    per_connection = decreases(load.views, key=lambda v: v.connection)
    per_thread = decreases(load.views, key=lambda v: v.thread)
    return {
        "connections": len({v.connection for v in load.views}),
        "decreases_per_connection": len(per_connection),
        "decreases_per_thread": len(per_thread),
        "global_regressions": global_regressions(load.views),
        "duplicate_numbers_shown": duplicates(load.views),
        "examples_per_connection": per_connection[:5],
    }


# --- figures ---------------------------------------------------------------------------------


def record(name, figures, load=None):
    """Add one scenario's figures to test-artifacts/faults.json and print them; with ``load``, also
    write every view it recorded to test-artifacts/faults-views/NAME.json (times from its start)."""
    ARTIFACT.parent.mkdir(exist_ok=True)
    if load is not None:
        views = ARTIFACT.parent / "faults-views"
        views.mkdir(exist_ok=True)
        rows = [
            [v.thread, v.connection, v.port, load.at(v.started), load.at(v.ended), v.status or v.error, v.shown]
            for v in load.views
        ]
        columns = ["thread", "connection", "port", "started", "ended", "status", "shown"]
        events = {event: load.at(at) for event, at in load.events.items()}
        (views / f"{name}.json").write_text(json.dumps({"columns": columns, "events": events, "views": rows}))
    try:
        everything = json.loads(ARTIFACT.read_text())
    except (FileNotFoundError, ValueError):
        everything = {}
    everything[name] = figures
    ARTIFACT.write_text(json.dumps(everything, indent=2, default=str) + "\n")
    print(f"faults {name}:", json.dumps(figures, default=str))

