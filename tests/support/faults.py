"""Fault injection for end-to-end tests of the page-view counter.

A fleet of web dynos (tests.support.dyno.WebDyno) shares one test-owned redis-server and one test-owned
PostgreSQL cluster (tests.support.postgres_cluster), so that a test may stop, pause, kill, snapshot and
restore either of them under load without touching the shared services on this machine. Clients
in threads load the fleet over keep-alive HTTP connections and record every response; a sampler
records each change of the durable total as it happens; helpers then wait for the flusher to
settle and measure what the views showed against what the database holds.

Import the fixtures into a test module that uses them::

    from tests.support.faults import fleet, redis_server  # noqa: F401
    from tests.support.postgres_cluster import cluster_database, postgres_cluster  # noqa: F401

A client thread keeps one connection for as long as the dyno keeps it open, and gunicorn's gthread
worker serves a connection from one process only, so the numbers shown on one connection are the
numbers one worker process showed, in order.
"""

import bisect
import http.client
import itertools
import json
import re
import select
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

from counter.engine import scripts as keys
from counter.web.page import PAGE
from tests.support.agents import BROWSER
from tests.support.dyno import ROOT, WebDyno, dyno_environment, run_process
from tests.support.services import free_port

HOST = "herokuapp-faults-0f1e2d3c.herokuapp.com"
COUNT = re.compile(r"viewed <strong>([\d,]+)</strong>")
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/site\.[0-9a-f]{12}\.css)">')
ARTIFACT = ROOT / "test-artifacts" / "faults.json"
FLUSH_INTERVAL = 0.2
WEB_CONCURRENCY = 2
# How late a flush round may come after its interval on a loaded two-CPU machine (the round's own
# duration, the GIL shared with the worker's request threads, other processes on the machine).
FLUSH_JITTER = 0.3
# A batch's rows are stamped when its transaction starts, a little after the batch was taken.
STAMP_SLACK = 0.05


def headers(request_id=None):
    """A reader's browser's request as Heroku's router passes it on: what the router adds to a
    request it received over HTTPS for the app's domain, and a browser's User-Agent (a request
    without one is a bot's, which counts no view)."""
    sent = {
        "User-Agent": BROWSER,
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
    """A redis-server of the test's own, with no automatic persistence.

    ``stop()`` (SIGTERM, as a platform does) leaves nothing behind unless ``keep_data``, which has
    the server save its data as it shuts down; ``start()`` then comes back with that data, or
    empty, or from a ``snapshot()`` given to it, on the same port. ``pause()`` and ``resume()``
    (SIGSTOP, SIGCONT) leave it accepting connections but answering nothing, with its data kept.
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

    @property
    def dump(self):
        return self.directory / "dump.rdb"

    def client(self, timeout=2.0):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def start(self, snapshot=None, timeout=10):
        """Start on the port it had (a free one the first time) from ``snapshot`` if given, else from
        what the last stop kept; return once it answers PING."""
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not on PATH (apt-get install redis-server)")
        if snapshot is not None:
            shutil.copyfile(snapshot, self.dump)
        attempts = 3 if self.port is None else 1
        for _ in range(attempts):
            port = self.port or free_port()
            log = open(self.directory / f"redis-{port}-{self.starts}.log", "w")
            self.process = subprocess.Popen(
                [
                    executable,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.directory),
                    "--dbfilename",
                    self.dump.name,
                    "--enable-debug-command",
                    "local",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            self.starts += 1
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with redis.Redis(
                        host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5
                    ) as probe:
                        if probe.ping():
                            self.port = port
                            return self
                except redis.RedisError:
                    time.sleep(0.02)
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f"redis-server did not start on port {port}: {self.output()}")

    def stop(self, sig=signal.SIGTERM, keep_data=False, timeout=10):
        """Signal the server and wait for it to exit; return (signalled_at, exited_at) in monotonic
        time. With ``keep_data`` it saves its data as it shuts down (SIGTERM only), and the next
        start comes back with it; otherwise the next start is empty."""
        self.resume()
        if keep_data:
            assert sig == signal.SIGTERM, "only a server shutting down saves its data"
            with self.client() as client:
                client.config_set("shutdown-on-sigterm", "save")
        signalled = time.monotonic()
        self.process.send_signal(sig)
        self.process.wait(timeout=timeout)
        exited = time.monotonic()
        if not keep_data:
            self.dump.unlink(missing_ok=True)
        return signalled, exited

    def snapshot(self, name):
        """SAVE the data as it is now and keep a copy of the file under ``name``. Returns its path and
        the instance hash it holds (read before and after the SAVE, which is taken again until
        both agree)."""
        with self.client() as client:
            while True:
                before = client.hgetall(keys.INSTANCE)
                client.save()
                if client.hgetall(keys.INSTANCE) == before:
                    break
        kept = self.directory / f"{name}.rdb"
        shutil.copyfile(self.dump, kept)
        self.dump.unlink()
        instance = {k.decode(): v.decode() for k, v in before.items()}
        return kept, {
            "id": instance.get("id"),
            "batch": int(instance.get("batch", 0)),
            "inflight": instance.get("inflight"),
        }

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True
        return time.monotonic()

    def resume(self):
        if self.paused and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False
        return time.monotonic()

    def reset_mid_command(self, hold=0.05):
        """Close every ordinary client connection with commands on their way, as a failover does.

        The server is held busy for ``hold`` seconds (DEBUG SLEEP), so that every client that sends
        a command meanwhile has one waiting, then told to close them all: of the commands waiting,
        those it reads before the kill run and their answers are lost, the others never run.
        Returns how many connections were closed."""
        with self.client() as holder, self.client() as killer:
            connection = holder.connection_pool.get_connection()
            connection.send_command("DEBUG", "SLEEP", str(hold))
            time.sleep(hold / 2)
            closed = killer.client_kill_filter(_type="normal", skipme=True)
            connection.disconnect()
        return closed

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
        return "\n".join(
            path.read_text(errors="replace")[-2000:] for path in sorted(self.directory.glob("redis-*.log"))
        )

    def state(self, name=PAGE):
        """The counter's keys as Redis holds them now (None when Redis does not answer): the number
        it would show, its base, pending and inflight views, the names left dirty, the counters of
        the batch in flight and the instance hash."""
        try:
            with self.client() as client:
                base, pending, inflight = client.hmget(keys.count(name), "base", "pending", "inflight")
                instance = {k.decode(): v.decode() for k, v in client.hgetall(keys.INSTANCE).items()}
                return {
                    "shown": None if base is None else int(base) + int(pending or 0) + int(inflight or 0),
                    "base": None if base is None else int(base),
                    "pending": int(pending or 0),
                    "inflight": int(inflight or 0),
                    "dirty": client.scard(keys.DIRTY),
                    "batch": client.hlen(keys.BATCH),
                    "instance": instance,
                }
        except redis.RedisError:
            return None

    def wait_for(self, condition, timeout=10, every=0.02):
        """Wait until ``condition(state)`` holds; returns that state (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state is not None and condition(state):
                return state
            time.sleep(every)
        raise AssertionError(f"Redis never reached the state awaited; last: {self.state()}")


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of this test's own (no automatic persistence), gone afterwards."""
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.destroy()


# --- the database ----------------------------------------------------------------------------


def wait_until(condition, timeout=10, every=0.02):
    """Wait until ``condition()`` is true (AssertionError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout} s: {condition}")
        time.sleep(every)


def durable_total(cluster, database, name=PAGE):
    """The counter's durable total (counter_counter.views), read over the admin socket."""
    with cluster.admin(database) as connection:
        row = connection.execute("SELECT views FROM counter_counter WHERE name = %s", [name]).fetchone()
    return row[0] if row else 0


def taken(cluster, database):
    """{Redis instance id: the last of its batches the database has added}."""
    with cluster.admin(database) as connection:
        return dict(connection.execute("SELECT id, taken FROM counter_redisinstance").fetchall())


class DurableLog:
    """Watches the counter's row from a thread of its own and keeps each change seen: (monotonic time
    seen, views, the row's ``updated`` in monotonic time). While Redis answers, each change is a
    batch reaching the database; ``updated`` is when its transaction started."""

    def __init__(self, cluster, database, name=PAGE, every=0.01):
        self.cluster = cluster
        self.database = database
        self.name = name
        self.every = every
        self.changes = []
        self.offset = time.time() - time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        connection = None
        while not self._stop.is_set():
            try:
                if connection is None:
                    connection = self.cluster.admin(self.database)
                row = connection.execute(
                    "SELECT views, EXTRACT(EPOCH FROM updated) FROM counter_counter WHERE name = %s", [self.name]
                ).fetchone()
            except psycopg.Error:
                if connection is not None:
                    connection.close()
                connection = None
                self._stop.wait(0.1)
                continue
            if row is not None and (not self.changes or self.changes[-1][1:] != (row[0], float(row[1]) - self.offset)):
                self.changes.append((time.monotonic(), row[0], float(row[1]) - self.offset))
            self._stop.wait(self.every)
        if connection is not None:
            connection.close()

    def last_write_before(self, moment):
        """When the row was last written before ``moment`` (by its ``updated``), or None."""
        return max((updated for _, _, updated in self.changes if updated < moment), default=None)


def settle(cluster, database, redis_server, interval=FLUSH_INTERVAL, timeout=10):
    """Wait until the flusher has moved every view to the database and Redis shows the durable total.

    Settled: nothing pending, dirty or in flight in Redis, Redis's number equal to the durable
    total, and that total unchanged over two flush intervals. Returns what was seen last, with
    ``settled`` False if that never happened within ``timeout``."""
    began = time.monotonic()
    stable_since, last, seen = None, None, {}
    while time.monotonic() - began < timeout:
        try:
            durable = durable_total(cluster, database)
        except psycopg.Error:
            durable = None
        state = redis_server.state()
        seen = {"durable": durable, "redis": state}
        quiet = (
            durable is not None
            and state is not None
            and state["pending"] == 0
            and state["inflight"] == 0
            and state["dirty"] == 0
            and state["batch"] == 0
            and "inflight" not in state["instance"]
            and state["shown"] == durable
        )
        if quiet and durable == last:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 2 * interval:
                return seen | {"settled": True, "seconds": round(time.monotonic() - began, 2)}
        else:
            stable_since = None
        last = durable if quiet else None
        time.sleep(interval / 4)
    return seen | {"settled": False, "seconds": round(time.monotonic() - began, 2)}


# --- the dynos -------------------------------------------------------------------------------


class Fleet:
    """Web dynos behind a stand-in for Heroku's router: ``slots[i]`` is the dyno serving slot i, which
    ``replace(i)`` swaps for a freshly booted one; ``add`` boots more, ``remove`` takes one out of
    the routing."""

    def __init__(self, env, size=2):
        self.env = env
        self.size = size
        self.slots = []
        self.retired = []
        self.release = None

    def start(self):
        self.release = run_process("release", self.env | {"DYNO": "release.1"})
        assert self.release.returncode == 0, self.release.stdout + self.release.stderr
        self.slots = self._boot([self.env | {"DYNO": f"web.{n + 1}"} for n in range(self.size)])
        return self

    def _boot(self, environments):
        dynos = [WebDyno(env) for env in environments]
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

    def add(self, count, **variables):
        """Boot ``count`` more dynos with ``variables`` changed in their environment, into new slots."""
        first = len(self.slots) + len(self.retired) + 1
        environments = [
            self.env | {"DYNO": f"web.{first + n}"} | {k: str(v) for k, v in variables.items()} for n in range(count)
        ]
        dynos = self._boot(environments)
        self.slots = self.slots + dynos
        return dynos

    def remove(self, dyno):
        """Route no more new connections to ``dyno`` (it keeps serving those it has)."""
        self.slots = [slot for slot in self.slots if slot is not dyno]
        self.retired.append(dyno)

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
        (new,) = self._boot([old.env])
        self.slots = [new if index == slot else dyno for index, dyno in enumerate(self.slots)]
        return {
            "signal": signal.Signals(sig).name,
            "exit_status": status,
            "stop_seconds": round(stopped - began, 2),
            "boot_seconds": round(new.boot_seconds, 2),
            "signalled_at": began,
            "stopped_at": stopped,
            "old_port": old.port,
        }

    def stop_all(self, sig=signal.SIGTERM):
        """Stop every dyno in the slots at once; returns their exit statuses."""
        statuses = {}

        def stop(dyno):
            statuses[dyno.port] = dyno.stop(sig)

        threads = [threading.Thread(target=stop, args=(dyno,)) for dyno in self.slots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.retired += self.slots
        self.slots = []
        return statuses

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
            reports.append(
                {
                    "ready_status": ready.status_code,
                    "ready": body["status"],
                    "dependencies": {name: report["status"] for name, report in body["dependencies"].items()},
                    "ready_seconds": round(seconds, 3),
                    "live_status": live.status_code,
                }
            )
        return reports

    def output(self):
        return "\n".join(f"--- {dyno!r}\n{dyno.output()[-4000:]}" for dyno in self.retired + self.slots)

    def logged(self, text):
        """How many lines the dynos logged that hold ``text``."""
        return len(self.log_lines(text))

    def log_lines(self, text):
        """The lines the dynos logged that hold ``text``, from ``text`` on."""
        return [
            line[line.index(text) :]
            for dyno in self.retired + self.slots
            for line in dyno.output().splitlines()
            if text in line
        ]

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


def fleet_environment(cluster_database, redis_server, interval=FLUSH_INTERVAL):
    return dyno_environment(
        SECRET_KEY="faults-" + "f" * 60,
        WEB_CONCURRENCY=WEB_CONCURRENCY,
        DATABASE_URL=cluster_database.url,  # DYNO is set, so sslmode=require: the cluster demands TLS
        REDIS_URL=redis_server.url,
        COUNTER_FLUSH_INTERVAL=interval,
        HEROKU_APP_DEFAULT_DOMAIN_NAME=HOST,
    )


@pytest.fixture
def fleet(cluster_database, redis_server):
    """Two released web dynos (WEB_CONCURRENCY=2) on the test's Redis and its TLS-only PostgreSQL,
    flushing every FLUSH_INTERVAL seconds."""
    fleet = Fleet(fleet_environment(cluster_database, redis_server)).start()
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

    @property
    def served(self):
        return self.status == 200 and self.shown is not None


class Load:
    """Client threads asking for the home page without pause (but ``think`` seconds), each over a
    keep-alive connection to its own slot of the fleet, until the ``with`` block ends.

    Thread n's slot is n modulo the slots there are: a thread moves to its slot's dyno when the
    slots change (dynos added, removed, replaced). A thread that cannot connect to it (stopped,
    not yet replaced) tries the other slots, as the router would. Connections refused are not
    views (``refused`` counts them). ``pause()`` holds every thread before its next request and
    returns once no request is in flight; ``resume()`` lets them go on.
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
        self._going = threading.Event()
        self._going.set()
        self._idle = threading.Condition()
        self._in_flight = 0
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
            self._going.set()
            for worker in self._workers:
                worker.join(timeout=self.timeout + 5)
            self.ended = time.monotonic()

    def pause(self):
        self._going.clear()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=self.timeout + 5)
        return time.monotonic()

    def resume(self):
        self._going.set()
        return time.monotonic()

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
        connection = port = serial = None
        requests = itertools.count(1)
        while not self._stop.is_set():
            self._going.wait()
            slots = self.fleet.slots
            if not slots:
                time.sleep(0.02)
                continue
            home = number % len(slots)
            if connection is not None and (connection.sock is None or port != slots[home].port or closed(connection)):
                connection.close()
                connection = None
            if connection is None:
                connection, port, serial = self._connect(home)
                if connection is None:
                    time.sleep(0.02)
                    continue
            with self._idle:
                if not self._going.is_set() and not self._stop.is_set():
                    continue
                self._in_flight += 1
            try:
                self._request(number, connection, port, serial, next(requests))
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = None
                time.sleep(0.02)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()
            if self.think:
                time.sleep(self.think)
        if connection is not None:
            connection.close()

    def _request(self, number, connection, port, serial, request):
        started = time.monotonic()
        try:
            connection.request("GET", "/", headers=headers(f"faults-{number}-{request}"))
            response = connection.getresponse()
            body = response.read().decode()
        except (OSError, http.client.HTTPException) as error:
            self.views.append(View(number, serial, port, started, time.monotonic(), error=type(error).__name__))
            raise
        view = View(
            number,
            serial,
            port,
            started,
            time.monotonic(),
            status=response.status,
            retry_after=response.getheader("Retry-After"),
        )
        if response.status == 200:
            match = COUNT.search(body)
            view.shown = int(match.group(1).replace(",", "")) if match else None
        else:
            view.body = body
        stylesheet = STYLESHEET.search(body)
        view.stylesheet = stylesheet.group(1) if stylesheet else None
        self.views.append(view)
        if response.will_close:
            connection.close()

    # What the views show.

    def between(self, start=None, end=None):
        """Views that started in [start, end)."""
        return [v for v in self.views if (start is None or v.started >= start) and (end is None or v.started < end)]

    def served(self, views=None):
        return [v for v in (self.views if views is None else views) if v.served]

    def at(self, seconds):
        return round(seconds - self.began, 3)


def closed(connection):
    """Whether the server closed an idle keep-alive connection (a dyno stopping closes them)."""
    return bool(select.select([connection.sock], [], [], 0)[0])


def sequential_views(dyno, count=3):
    """Ask ``dyno`` for the page ``count`` times, one after the other on one connection; returns the
    numbers shown (None for an answer other than 200)."""
    shown = []
    connection = http.client.HTTPConnection("127.0.0.1", dyno.port, timeout=10)
    try:
        for _ in range(count):
            connection.request("GET", "/", headers=headers())
            response = connection.getresponse()
            match = COUNT.search(response.read().decode())
            shown.append(int(match.group(1).replace(",", "")) if response.status == 200 and match else None)
    finally:
        connection.close()
    return shown


def worst_latency(views):
    return round(max((v.latency for v in views), default=0.0), 3)


def percentile(views, fraction):
    latencies = sorted(v.latency for v in views)
    if not latencies:
        return 0.0
    return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))], 3)


def statuses(views):
    found = {}
    for view in views:
        key = str(view.status) if view.status else view.error
        found[key] = found.get(key, 0) + 1
    return found


def most_served_within(views, seconds, start=None, end=None):
    """The most views served in any ``seconds`` between ``start`` and ``end`` (by when they ended)."""
    ends = sorted(
        v.ended for v in views if v.served and (start is None or v.ended >= start) and (end is None or v.ended <= end)
    )
    return max((bisect.bisect_right(ends, moment + seconds) - index for index, moment in enumerate(ends)), default=0)


# --- what the numbers did ----------------------------------------------------------------------


class Faults:
    """The spans of a load's faults: each from when it began to when what is shown must have
    converged, two flush intervals and ``slack`` after the fault ended (a round's own duration and
    a late flusher thread on a loaded two-CPU machine). A view sent and answered outside every
    span was served while no fault was under way."""

    def __init__(self, interval=FLUSH_INTERVAL, slack=0.5):
        self.interval = interval
        self.slack = slack
        self.spans = []

    def add(self, began, ended):
        self.spans.append((began, ended, ended + 2 * self.interval + self.slack))

    def period(self, view):
        """Which calm period ``view`` was sent and answered in (0 before the first fault, 1 after
        it has converged...), or None if any of its time fell in a fault or before convergence."""
        for index, (began, _, converged) in enumerate(self.spans):
            if view.ended < began:
                return index
            if view.started < converged:
                return None
        return len(self.spans)

    @property
    def converged(self):
        return self.spans[-1][2]

    @property
    def last_ended(self):
        return self.spans[-1][1]


def connections(views):
    """{connection: its 200 views in the order they were sent}."""
    found = {}
    for view in sorted((v for v in views if v.served), key=lambda v: v.started):
        found.setdefault(view.connection, []).append(view)
    return found


def order_figures(views, faults):
    """How the numbers shown moved, per connection (one worker process) and across connections.

    ``worst_drop``: the most a number ran below one shown before it on its connection, anywhere.
    ``calm_drops``: views sent while no fault was under way that showed less than one shown before
    on their connection in the same calm period; ``calm_regressions``: the same across connections
    (lower than a view that had ended before they were sent). ``longest_run``: the most
    consecutive views on one connection that showed one number; ``calm_repeats``: consecutive views
    sent in one calm period that showed the same number."""
    worst_drop, worst_example = 0, None
    calm_drops, calm_repeats, longest_run = [], [], 1
    for connection, shown in connections(views).items():
        highest, calm_highest, run = 0, {}, 1
        for previous, view in zip([None, *shown], shown, strict=False):
            if view.shown < highest and highest - view.shown > worst_drop:
                worst_drop, worst_example = highest - view.shown, (connection, highest, view.shown, view.started)
            highest = max(highest, view.shown)
            period = faults.period(view)
            if period is not None:
                if view.shown < calm_highest.get(period, 0):
                    calm_drops.append((connection, calm_highest[period], view.shown))
                calm_highest[period] = max(calm_highest.get(period, 0), view.shown)
            if previous is not None and previous.shown == view.shown:
                run += 1
                if period is not None and faults.period(previous) == period:
                    calm_repeats.append((connection, view.shown))
            else:
                run = 1
            longest_run = max(longest_run, run)
    calm_regressions = []
    served = [v for v in views if v.served and faults.period(v) is not None]
    by_end = sorted(served, key=lambda v: v.ended)
    highest, index = {}, 0
    for view in sorted(served, key=lambda v: v.started):
        while index < len(by_end) and by_end[index].ended < view.started:
            ended = by_end[index]
            period = faults.period(ended)
            highest[period] = max(highest.get(period, 0), ended.shown)
            index += 1
        if view.shown < highest.get(faults.period(view), 0):
            calm_regressions.append((highest[faults.period(view)], view.shown, view.port))
    return {
        "connections": len(connections(views)),
        "worst_drop": worst_drop,
        "worst_drop_example": worst_example,
        "calm_drops": len(calm_drops),
        "calm_drop_examples": calm_drops[:5],
        "calm_regressions": len(calm_regressions),
        "calm_regression_examples": calm_regressions[:5],
        "longest_run": longest_run,
        "calm_repeats": len(calm_repeats),
        "calm_repeat_examples": calm_repeats[:5],
    }


def exactness(views, final, since):
    """Whether each view sent after ``since`` showed exactly the durable total ``final`` (every view
    counted, after the load) less the views counted after it. With views overlapping in time,
    which of two concurrent views counted first is unknown: a view must show at least ``final``
    less the views that ended after it began and at most ``final`` less those that began after it
    ended. Returns the views outside those bounds as (seconds after ``since``, shown, lowest,
    highest), and the time of the last of them."""
    served = [v for v in views if v.served]
    starts = sorted(v.started for v in served)
    # A view cut off without an answer may have counted too.
    ends = sorted(v.ended for v in views if v.served or v.error)
    wrong = []
    for view in served:
        if view.started < since:
            continue
        surely_after = len(starts) - bisect.bisect_right(starts, view.ended)
        maybe_after = len(ends) - bisect.bisect_right(ends, view.started) - 1  # not the view itself
        lowest, highest = final - maybe_after, final - surely_after
        if not lowest <= view.shown <= highest:
            wrong.append((round(view.started - since, 3), view.shown, lowest, highest))
    wrong.sort()
    return {
        "views_checked": sum(v.started >= since for v in served),
        "wrong": len(wrong),
        "wrong_examples": wrong[:3] + wrong[-3:],
        "last_wrong": wrong[-1][0] if wrong else None,
    }


def loss_allowance(views, durable_log, signalled, exited, interval=FLUSH_INTERVAL):
    """What Redis may take with it when it loses its data between ``signalled`` and ``exited``: the
    views served since the last batch reached the database before the loss (its row's ``updated``,
    less a few milliseconds between taking a batch and stamping it), and the views served in the
    last flush interval (and jitter) before it."""
    last_flush = durable_log.last_write_before(signalled)
    served = [v for v in views if v.served]
    return {
        "seconds_from_last_flush_to_the_loss": None if last_flush is None else round(signalled - last_flush, 3),
        "views_since_last_flush": sum(
            v.ended >= (last_flush or 0) - STAMP_SLACK and v.started <= exited for v in served
        ),
        "views_in_the_last_flush_interval": sum(
            v.ended >= signalled - interval - FLUSH_JITTER and v.started <= exited for v in served
        ),
        "redis_exit_seconds": round(exited - signalled, 3),
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
