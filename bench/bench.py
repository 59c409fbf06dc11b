"""Load-test the app as a dyno serves it, against a yardstick, and report how it compares.

Run through bench/run (which installs wrk and the project's .venv). Every target is served by the
Procfile's web command, ``gunicorn --config gunicorn.conf.py <app>``, from the repository root,
with the environment a production dyno has (no DEBUG, a random SECRET_KEY, ALLOWED_HOSTS), and
loaded with wrk over loopback with the headers Heroku's router adds (bench/router.lua).

For each WEB_CONCURRENCY, each round starts every target once, in turn (A B C ... A B C ...),
so that slow drifts of the machine hit every target alike; each round's ratios use the yardstick
measured in that same round, and the report gives the median over rounds. With --baseline REF,
the redis and postgres targets each have a twin served from that git revision's tree, measured
beside them in every round, and the report adds each round's new / baseline (A/B). See
bench/README.md.
"""

import argparse
import datetime
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
LUA = BENCH / "router.lua"

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

YARDSTICK_KEY = "bench:yardstick"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A run with several workers whose busiest one used more than this share of their CPU measured
# about one worker (it took all or nearly all of wrk's connections): it is measured again.
LOPSIDED_SHARE = 0.8
# A run during which the hypervisor took more than this share of the machine's CPU time for other
# guests (steal) measured them as much as the target: it is measured again.
STOLEN_SHARE = 0.1
MiB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PAGE_PRESENT = 1 << 63  # /proc/<pid>/pagemap: one 64-bit entry per page of the address space
PAGE_FRAME = (1 << 55) - 1

ROUTER_HEADERS = {
    "Host": "localhost",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Port": "443",
    "Accept-Encoding": "gzip, deflate, br",
}

# The stats of the counter api-hit counts; they answer 404 until this hit, before the load, creates it.
STATS_CSV = "/stats/bench/page/views.csv"
STATS_COUNTER_HIT = "/api/v1/counters/bench/page/hit"

# name, label, app, database ("redis-pg", "pg", "sqlite" or None), path ("/", "static" or a URL path)
TARGETS = [
    ("redis", "counter page, Redis counter (PostgreSQL)", "herokuapp.wsgi", "redis-pg", "/"),
    ("postgres", "counter page, database counter, PostgreSQL", "herokuapp.wsgi", "pg", "/"),
    ("sqlite", "counter page, database counter, SQLite", "herokuapp.wsgi", "sqlite", "/"),
    ("static", "hashed static file (site.css)", "herokuapp.wsgi", "redis-pg", "static"),
    (
        "api-hit",
        "API hit of a named counter, Redis (PostgreSQL)",
        "herokuapp.wsgi",
        "redis-pg",
        "/api/v1/counters/bench/page/hit",
    ),
    (
        "badge",
        "SVG badge of a named counter, Redis (PostgreSQL)",
        "herokuapp.wsgi",
        "redis-pg",
        "/badge/bench/readme.svg",
    ),
    ("csv-redis", "stats CSV of 366 days, Redis (PostgreSQL)", "herokuapp.wsgi", "redis-pg", f"{STATS_CSV}?days=366"),
    (
        "csv-postgres",
        "stats CSV of 366 days, database counter, PostgreSQL",
        "herokuapp.wsgi",
        "pg",
        f"{STATS_CSV}?days=366",
    ),
    ("yardstick", "yardstick: bare WSGI + one Redis INCR", "bench.yardstick:application", "redis", "/"),
]
TARGET_NAMES = [t[0] for t in TARGETS]
# With --baseline, each of these targets has a twin served from the baseline's tree: the twin's
# name, and the keys of its databases in Services, are its target's with BASELINE appended.
TWINNED = ("redis", "postgres")
BASELINE = "@base"

# What the README promises to check, evaluated on the medians over rounds.
CRITERIA_TEXT = {
    "redis_rps": "counter page (Redis) requests/s >= 0.85x yardstick",
    "postgres_rps": "counter page (PostgreSQL counter) requests/s >= 0.5x yardstick",
    "redis_p99": "counter page (Redis) p99 <= 1.5x yardstick p99",
    "api_hit_rps": "API hit of a named counter requests/s >= 0.6x yardstick",
    "badge_rps": "SVG badge of a named counter requests/s >= 0.6x yardstick",
    "memory": "master+workers after load <= 120 MiB RSS, shared pages once",
    "boot": "boot to first 200 <= 0.5 s (median of the boots)",
}


class BenchError(Exception):
    """Something the benchmark needs is missing or broken; the message says what."""


def log(message):
    print(message, flush=True)


# --- the services ---------------------------------------------------------------------------


def psycopg_url(url):
    return url.replace("postgres://", "postgresql://", 1)


def next_database(url):
    """``url`` with the Redis database after its own."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(path=f"/{int(parts.path.strip('/') or 0) + 1}").geturl()


def load_module(path):
    """The module in file ``path``, run on its own: no package it belongs to is imported."""
    spec = importlib.util.spec_from_file_location(f"bench_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def counter_store(tree):
    """Where the counter page's count is in Redis with the code in ``tree``, read from that code:
    (key, fields) of the hash counter.engine.scripts.count("index"), whose number shown is the sum
    of those fields, or, in the engine before it, the string key counter.redis_scripts.total("index")
    (fields None)."""
    engine, before = tree / "counter" / "engine" / "scripts.py", tree / "counter" / "redis_scripts.py"
    if engine.exists():
        return load_module(engine).count("index"), ("base", "pending", "inflight")
    if before.exists():
        return load_module(before).total("index"), None
    raise BenchError(f"neither counter/engine/scripts.py nor counter/redis_scripts.py in {tree}: where does it count?")


def tree(name, workdir):
    """Where the code of target ``name`` (or of the database it is keyed by) is: the baseline's
    tree, extracted into the run's directory, for a twin; the repository otherwise."""
    return Path(workdir) / "baseline" if name.endswith(BASELINE) else ROOT


class Services:
    """PostgreSQL databases of our own (created here, dropped in close()) and Redis db 14 (flushed);
    with a baseline, its twins get databases of their own and the Redis database after (both
    trees' counters use the same keys)."""

    def __init__(self, workdir, baseline=False):
        import psycopg
        import redis

        self.databases = []
        try:
            self.admin = psycopg.connect(psycopg_url(POSTGRES_ADMIN_URL), autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as error:
            raise BenchError(
                f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({str(error).strip().splitlines()[0]}); "
                "start it, or point BENCH_POSTGRES_URL at a server where this user may create databases"
            ) from None
        self.redis_urls = {"redis": REDIS_URL, "redis-pg": REDIS_URL}
        if baseline:
            self.redis_urls["redis-pg" + BASELINE] = next_database(REDIS_URL)
        self.clients = {}
        for url in dict.fromkeys(self.redis_urls.values()):
            self.clients[url] = redis.Redis.from_url(url, socket_connect_timeout=3)
            try:
                self.clients[url].ping()
            except redis.RedisError as error:
                raise BenchError(
                    f"Redis is not reachable at {url} ({error}); start it, or set BENCH_REDIS_URL"
                ) from None
            self.clients[url].flushdb()
        self.redis = self.clients[REDIS_URL]
        self.stores = {
            database: counter_store(tree(database, workdir)) for database in self.redis_urls if database != "redis"
        }
        self.sqlite_path = Path(workdir) / "bench.sqlite3"
        # One database per configuration, so that the Redis counter's flusher and the database
        # counter never write to the same row.
        self.urls = {"redis-pg": self.create_database(), "pg": self.create_database()}
        self.urls["sqlite"] = f"sqlite:///{self.sqlite_path}"
        if baseline:
            self.urls |= {database + BASELINE: self.create_database() for database in ("redis-pg", "pg")}

    def create_database(self):
        name = f"herokuapp_bench_{uuid.uuid4().hex[:12]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def database_name(self, database):
        url = self.urls.get(database, "")
        return url.rsplit("/", 1)[1] if url.startswith("postgres") else None

    def backend_pids(self, database):
        """Process ids of PostgreSQL's backends serving ``database`` (empty if not PostgreSQL)."""
        name = self.database_name(database)
        if not name:
            return []
        rows = self.admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name]).fetchall()
        return [row[0] for row in rows]

    def redis_cpu_seconds(self):
        info = self.redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def count(self, database, app):
        """The count the target's store holds now (to check every request was counted)."""
        if app != "herokuapp.wsgi" or database == "redis":
            return int(self.redis.get(YARDSTICK_KEY) or 0)
        if database in self.stores:
            client, (key, fields) = self.clients[self.redis_urls[database]], self.stores[database]
            return sum(int(part or 0) for part in client.hmget(key, *fields)) if fields else int(client.get(key) or 0)
        if self.database_name(database):
            import psycopg

            with psycopg.connect(psycopg_url(self.urls[database]), autocommit=True) as connection:
                row = connection.execute("SELECT views FROM counter_counter WHERE name = 'index'").fetchone()
            return row[0] if row else 0
        with sqlite3.connect(self.sqlite_path, timeout=20) as connection:
            row = connection.execute("SELECT views FROM counter_counter WHERE name = 'index'").fetchone()
        return row[0] if row else 0

    def versions(self):
        return {
            "postgresql": self.admin.execute("SHOW server_version").fetchone()[0],
            "redis": self.redis.info("server").get("redis_version"),
        }

    def close(self):
        for name in self.databases:
            try:
                self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as error:  # keep cleaning up the rest
                log(f"bench: could not drop database {name}: {error}")
        self.admin.close()
        for url, client in self.clients.items():
            try:
                client.flushdb()
            except Exception as error:
                log(f"bench: could not flush Redis {url}: {error}")
            client.close()


# --- the baseline -----------------------------------------------------------------------------


def resolve(ref):
    """The commit that ``ref`` names in the repository."""
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise BenchError(f"--baseline {ref}: the repository has no such commit")
    return result.stdout.strip()


def extract(commit, directory):
    """Write the tree of ``commit`` into ``directory`` with git archive, which leaves the
    repository's checkout, index and worktrees as they are."""
    directory.mkdir()
    run_checked(
        f"set -o pipefail; git -C {shlex.quote(str(ROOT))} archive {commit} | tar -x -C {shlex.quote(str(directory))}",
        dict(os.environ),
        f"extracting {commit}",
    )


def with_twins(targets, baseline):
    """``targets`` with, right after each of TWINNED, its twin: the same target served from the
    baseline's tree, with databases of its own."""
    result = []
    for name, label, app, database, path in targets:
        result.append((name, label, app, database, path))
        if name in TWINNED:
            result.append((name + BASELINE, f"{label}, at {baseline}", app, database + BASELINE, path))
    return result


# --- processes ------------------------------------------------------------------------------


def procfile(process_type):
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise BenchError(f"the Procfile has no {process_type} process")


def web_command(app):
    """The Procfile's web command, serving ``app`` instead of the project's WSGI module."""
    words = shlex.split(procfile("web"))
    if words[:3] != ["gunicorn", "--config", "gunicorn.conf.py"] or len(words) != 4:
        raise BenchError(f"the Procfile's web command is no longer 'gunicorn --config gunicorn.conf.py APP': {words}")
    return shlex.join(words[:3] + [app])


def base_environment():
    return {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


def free_port():
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::", 0))
        return sock.getsockname()[1]


def run_checked(command, env, what, timeout=300, cwd=ROOT):
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise BenchError(f"{what} failed ({command}):\n{result.stdout}{result.stderr}")
    return result


def read_stat(pid):
    """(ppid, utime + stime in ticks) from /proc/<pid>/stat, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_tree(root_pid):
    """``root_pid`` and all its descendants, found by walking /proc's parent links."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat:
                children.setdefault(stat[0], []).append(int(entry))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_ticks(pids):
    ticks = {}
    for pid in pids:
        stat = read_stat(pid)
        if stat:
            ticks[pid] = stat[1]
    return ticks


def cpu_delta_ms(before, after):
    """CPU milliseconds between two cpu_ticks() snapshots; a process new in ``after`` counts whole."""
    return sum(after[pid] - before.get(pid, 0) for pid in after) * 1000 / CLOCK_TICKS


def busiest_worker_share(before, after, master):
    """The share of the workers' CPU during the load that the busiest one used: near 1/N when the
    connections were spread over N workers, 1.0 when one worker took them all. None with one worker."""
    used = [after[pid] - before.get(pid, 0) for pid in after if pid != master]
    return max(used) / sum(used) if len(used) > 1 and sum(used) else None


def machine_cpu():
    """The machine's CPU time so far in ticks, from the first line of /proc/stat: (all of it, idle,
    stolen). Idle counts waiting for I/O; stolen is what the hypervisor gave other machines while
    this one's CPUs had work (guest time is counted in user time already, so it is left out)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks), ticks[3] + ticks[4], ticks[7]


def machine_shares(before, after):
    """The shares of the machine's CPU time between two machine_cpu() readings that stood idle and
    that were stolen: a load that leaves CPUs idle is waiting on something other than them, and one
    whose CPUs were stolen measured the hypervisor's other guests as well as the target."""
    total, idle, stolen = (a - b for a, b in zip(after, before, strict=True))
    return {"idle": idle / total, "steal": stolen / total} if total > 0 else {"idle": None, "steal": None}


def connections_by_process(port, pids):
    """How many established TCP connections to ``port`` each of ``pids`` holds: the sockets in
    /proc's connection tables whose local port it is, found among each process's open files."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:  # a kernel without IPv6
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 01: ESTABLISHED
                sockets.add(f"socket:[{fields[9]}]")
    counts = {}
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # the process is gone
            continue
        count = 0
        for descriptor in descriptors:
            try:
                count += os.readlink(f"/proc/{pid}/fd/{descriptor}") in sockets
            except OSError:  # closed meanwhile
                pass
        counts[pid] = count
    return counts


def memory(pids):
    """RSS and PSS in MiB per process, from /proc/<pid>/smaps_rollup."""
    result = {}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        values = dict(re.findall(r"^(\w+):\s+(\d+) kB", text, re.MULTILINE))
        result[pid] = {
            "rss_mib": int(values.get("Rss", 0)) / 1024,
            "pss_mib": int(values.get("Pss", 0)) / 1024,
            "uss_mib": (int(values.get("Private_Clean", 0)) + int(values.get("Private_Dirty", 0))) / 1024,
        }
    return result


def resident_mib(pids):
    """MiB of RAM the processes hold together, each physical page counted once however many of
    them map it: what the dyno holds, where the sum of their RSS counts every page a forked worker
    shares with its master twice. The page frame numbers of /proc/<pid>/pagemap are visible to root
    only (others read zeros): None without them."""
    frames = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
                for line in maps:
                    start, end = (int(address, 16) for address in line.split(None, 1)[0].split("-"))
                    pagemap.seek(start // PAGE_SIZE * 8)
                    entries = pagemap.read((end - start) // PAGE_SIZE * 8)
                    frames.update(e & PAGE_FRAME for (e,) in struct.iter_unpack("Q", entries) if e & PAGE_PRESENT)
        except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
            continue
    frames.discard(0)
    return len(frames) * PAGE_SIZE / MiB if frames else None


def http_get(port, path, timeout=5):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=ROUTER_HEADERS | {"X-Request-Start": str(int(time.time() * 1000))})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class Server:
    """One target's web process; stop() always ends it (SIGTERM, then SIGKILL of its group)."""

    def __init__(self, app, env, logdir, cwd=ROOT):
        self.app = app
        self.cwd = cwd
        self.port = free_port()
        self.env = dict(env, PORT=str(self.port))
        self.log_path = Path(logdir) / f"web-{self.port}.log"
        self.process = None

    def start(self, timeout=60):
        """Start the web command; return seconds from starting it to the first 200 on /."""
        self.log_file = open(self.log_path, "wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {web_command(self.app)}"],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.app} exited with {self.process.returncode} at start:\n{self.log_tail()}")
            try:
                status, _, _ = http_get(self.port, "/", timeout=timeout)
            except ConnectionError:  # refused until gunicorn binds; reset if it closes
                time.sleep(0.005)
                continue
            boot = time.perf_counter() - started
            if status != 200:
                raise BenchError(f"{self.app} answered / with {status}, not 200:\n{self.log_tail()}")
            return boot
        raise BenchError(f"{self.app} gave no 200 on / within {timeout} s:\n{self.log_tail()}")

    def log_size(self):
        self.log_file.flush()
        return self.log_path.stat().st_size

    def log_since(self, offset):
        with open(self.log_path, "rb") as file:
            file.seek(offset)
            return file.read().decode("utf-8", "replace")

    def log_tail(self, lines=30):
        return "\n".join(self.log_since(0).splitlines()[-lines:])

    def stop(self):
        """SIGTERM and wait (gunicorn's graceful_timeout is 20 s), then SIGKILL the whole group."""
        if self.process is None:
            return None
        stopped = time.perf_counter()
        seconds = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
                seconds = time.perf_counter() - stopped
            except subprocess.TimeoutExpired:
                log(f"bench: {self.app} did not stop within 30 s of SIGTERM; killing it")
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # any worker its master left behind
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.log_file.close()
        return seconds


# --- wrk --------------------------------------------------------------------------------------


def wrk(port, path, seconds, args, during=None):
    """Load the server for ``seconds``; ``during()``, if given, is called a second into the load
    (halfway, for a shorter one) and its answer returned as ``during``."""
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}{path}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if during:
            time.sleep(min(1.0, seconds / 2))
            sampled = during()
        stdout, stderr = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode:
        raise BenchError(f"wrk failed:\n{stdout}{stderr}")
    line = next((text for text in stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no BENCH_JSON line (is bench/router.lua in use?):\n{stdout}")
    measured = json.loads(line.removeprefix("BENCH_JSON "))
    if during:
        measured["during"] = sampled
    measured["client_cpu_ms"] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    measured["command"] = shlex.join(command).replace(str(LUA), "bench/router.lua")  # no machine paths in results
    return measured


def access_log_statuses(text):
    statuses = {}
    for status in re.findall(r"^method=\S+ .*? status=(\d{3}) ", text, re.MULTILINE):
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def log_problems(text):
    return [
        line
        for line in text.splitlines()
        if line.startswith(("level=WARNING", "level=ERROR", "level=CRITICAL"))
        or re.search(r"\[(ERROR|CRITICAL)\]", line)
    ]


# --- one measurement --------------------------------------------------------------------------


def measure(target, concurrency, services, secret_key, workdir, args, static_path):
    name, label, app, database, path = target
    env = base_environment() | {
        "WEB_CONCURRENCY": str(concurrency),
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "localhost",
        # wrk is one client: measure the API's and the stats' work, the limiter's included, not its refusals.
        "COUNTER_API_REQUESTS_PER_MINUTE": "1000000000",
        "COUNTER_STATS_REQUESTS_PER_MINUTE": "1000000000",
    }
    if database in services.urls:
        env["DATABASE_URL"] = services.urls[database]
    if database in services.redis_urls:
        env["REDIS_URL"] = services.redis_urls[database]

    server = Server(app, env, workdir, tree(name, workdir))
    try:
        boot = server.start()
        if path == "static":
            _, _, html = http_get(server.port, "/")
            found = re.search(rb'href="(/static/site\.[0-9a-f]{12}\.css)"', html)
            if not found:
                raise BenchError(f"no hashed site.css link in the page:\n{html.decode(errors='replace')}")
            static_path = path = found.group(1).decode()
        if path.startswith("/stats/"):
            http_get(server.port, STATS_COUNTER_HIT)
        status, headers, body = http_get(server.port, path)
        if status != 200:
            raise BenchError(f"{name}: GET {path} answered {status}, not 200")
        if args.warmup:
            wrk(server.port, path, args.warmup, args)

        pids = process_tree(server.process.pid)
        backends = services.backend_pids(database) if database else []
        count_before = services.count(database, app) if path == "/" else None
        log_offset = server.log_size()
        cpu_before, pg_before = cpu_ticks(pids), cpu_ticks(backends)
        redis_before = services.redis_cpu_seconds()
        machine_before = machine_cpu()

        workers = [pid for pid in pids if pid != server.process.pid]
        load = wrk(server.port, path, args.duration, args, during=lambda: connections_by_process(server.port, workers))

        machine_after = machine_cpu()
        pids = process_tree(server.process.pid)
        cpu_after = cpu_ticks(pids)
        backends = services.backend_pids(database) if database else []
        pg_after = cpu_ticks(backends)
        redis_after = services.redis_cpu_seconds()
        mem = memory(pids)
        resident = resident_mib(pids)
        time.sleep(0.2)  # let the last access lines of the load reach the log
        count_after = services.count(database, app) if path == "/" else None
        logged = server.log_since(log_offset)
    finally:
        stop_seconds = server.stop()

    requests = load["requests"]
    statuses = access_log_statuses(logged)
    non_2xx = sum(n for status, n in statuses.items() if not status.startswith("2"))
    errors = load["errors"]
    per_request = (lambda ms: ms / requests) if requests else (lambda ms: None)
    shares = machine_shares(machine_before, machine_after)
    return {
        "target": name,
        "path": path,
        "static_path": static_path,
        "concurrency": concurrency,
        "boot_s": boot,
        "stop_s": stop_seconds,
        "requests": requests,
        "rps": requests / (load["duration_us"] / 1e6),
        "latency_ms": {k: v / 1000 for k, v in load["latency_us"].items()},
        "bytes_per_response": load["bytes"] / requests if requests else None,
        "response_headers_sample": {
            k: v for k, v in headers.items() if k.lower() in ("content-type", "content-encoding", "content-length")
        },
        "wrk_errors": errors,
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "access_log_statuses": statuses,
        "non_2xx": max(non_2xx, errors["status"]),
        "log_problems": len(log_problems(logged)),
        "log_problem_sample": log_problems(logged)[:3],
        "server_cpu_ms_per_request": per_request(cpu_delta_ms(cpu_before, cpu_after)),
        "busiest_worker_cpu_share": busiest_worker_share(cpu_before, cpu_after, server.process.pid),
        "connections_per_worker": sorted(load["during"].values(), reverse=True),
        "machine_idle_share": shares["idle"],
        "machine_steal_share": shares["steal"],
        "postgres_cpu_ms_per_request": per_request(cpu_delta_ms(pg_before, pg_after)) if backends or pg_before else 0.0,
        "redis_server_cpu_ms_per_request": per_request((redis_after - redis_before) * 1000),
        "client_cpu_ms_per_request": per_request(load["client_cpu_ms"]),
        "processes": len(mem),
        "rss_mib": sum(m["rss_mib"] for m in mem.values()),
        "pss_mib": sum(m["pss_mib"] for m in mem.values()),
        "uss_mib": sum(m["uss_mib"] for m in mem.values()),
        "resident_mib": resident,
        "memory_by_process": list(mem.values()),
        "counted": (count_after - count_before) if count_before is not None else None,
        "wrk_command": load["command"],
    }


def lopsided(run):
    """Whether one worker served (nearly) all of a run's load while others stood by."""
    share = run.get("busiest_worker_cpu_share")
    return share is not None and share > LOPSIDED_SHARE


def stolen(run):
    """Whether the hypervisor took more than STOLEN_SHARE of the machine's CPU time during a run's load."""
    share = run.get("machine_steal_share")
    return share is not None and share > STOLEN_SHARE


def schedule(rounds, concurrencies, names):
    """The runs in the order they are measured, as (round, WEB_CONCURRENCY, target name): each
    round serves every target at every worker count before the next begins, so that a drift of the
    machine's speed over the run (as a boot's seconds follow) falls on every worker count alike,
    rather than on the one measured last. A baseline twin is served right after its target in odd
    rounds and right before it in even ones, so that neither always follows the other's load."""
    for round_number in range(1, rounds + 1):
        order = list(names)
        if round_number % 2 == 0:
            for i in range(1, len(order)):
                if order[i] == order[i - 1] + BASELINE:
                    order[i - 1], order[i] = order[i], order[i - 1]
        for concurrency in concurrencies:
            for name in order:
                yield round_number, concurrency, name


def measure_spread(measure_once, retries):
    """Measure with ``measure_once()``, again while one worker took the load (see lopsided) or the
    hypervisor took the machine's CPUs (see stolen), at most ``retries`` more times. Returns the
    last run, with how many it took and, for each run left out, the busiest worker's share of the
    workers' CPU or the share of the machine's CPU time stolen."""
    lopsided_left_out, stolen_left_out = [], []
    for attempt in range(1, retries + 2):
        run = measure_once()
        if attempt > retries:
            break
        if lopsided(run):
            lopsided_left_out.append(run["busiest_worker_cpu_share"])
            log(f"  {run['target']}: one worker used {lopsided_left_out[-1]:.0%} of the workers' CPU, measuring again")
        elif stolen(run):
            stolen_left_out.append(run["machine_steal_share"])
            log(
                f"  {run['target']}: the hypervisor took {stolen_left_out[-1]:.0%} of the machine's CPU time, measuring again"
            )
        else:
            break
    run["attempts"] = attempt
    run["lopsided_shares_left_out"] = lopsided_left_out
    run["stolen_shares_left_out"] = stolen_left_out
    return run


# --- summary, table, chart --------------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def highest(values):
    return max((v for v in values if v is not None), default=None)


def configurations(targets):
    """The app's targets among ``targets``, grouped by what their start does: the same app with the
    same environment boots the same way, whichever path the load then asks for."""
    groups = {}
    for name, _, app, database, _ in TARGETS:
        if name in targets and name != "yardstick":
            groups.setdefault((app, database), []).append(name)
    return list(groups.values())


def summarize(runs, concurrencies, targets):
    summary = {}
    for concurrency in concurrencies:
        rows = {}
        rounds = sorted({r["round"] for r in runs if r["concurrency"] == concurrency})
        yard = {r["round"]: r for r in runs if r["concurrency"] == concurrency and r["target"] == "yardstick"}
        for name in targets:
            mine = [r for r in runs if r["concurrency"] == concurrency and r["target"] == name]
            if not mine:
                continue
            rps_ratios = [
                r["rps"] / yard[r["round"]]["rps"] for r in mine if r["round"] in yard and yard[r["round"]]["rps"]
            ]
            p99_ratios = [
                r["latency_ms"]["p99"] / yard[r["round"]]["latency_ms"]["p99"]
                for r in mine
                if r["round"] in yard and yard[r["round"]]["latency_ms"]["p99"]
            ]
            rows[name] = {
                "rounds": len(mine),
                "rps": median([r["rps"] for r in mine]),
                "rps_ratio": median(rps_ratios),
                "rps_ratios": rps_ratios,
                "p50_ms": median([r["latency_ms"]["p50"] for r in mine]),
                "p90_ms": median([r["latency_ms"]["p90"] for r in mine]),
                "p99_ms": median([r["latency_ms"]["p99"] for r in mine]),
                "p99_ratio": median(p99_ratios),
                "p99_ratios": p99_ratios,
                "non_2xx": sum(r["non_2xx"] for r in mine),
                "socket_errors": sum(r["socket_errors"] for r in mine),
                "log_problems": sum(r["log_problems"] for r in mine),
                "uncounted": sum(max(0, r["requests"] - r["counted"]) for r in mine if r["counted"] is not None),
                "server_cpu_ms": median([r["server_cpu_ms_per_request"] for r in mine]),
                "postgres_cpu_ms": median([r["postgres_cpu_ms_per_request"] for r in mine]),
                "redis_cpu_ms": median([r["redis_server_cpu_ms_per_request"] for r in mine]),
                "client_cpu_ms": median([r["client_cpu_ms_per_request"] for r in mine]),
                "rss_mib": median([r["rss_mib"] for r in mine]),
                "rss_mib_max": max(r["rss_mib"] for r in mine),
                "pss_mib": median([r["pss_mib"] for r in mine]),
                "resident_mib": median([r.get("resident_mib") for r in mine]),
                "resident_mib_max": highest([r.get("resident_mib") for r in mine]),
                "boot_s": median([r["boot_s"] for r in mine]),
                "boot_s_max": max(r["boot_s"] for r in mine),
                "measured_again": sum(len(r.get("lopsided_shares_left_out", ())) for r in mine),
                "lopsided": sum(lopsided(r) for r in mine),
                "measured_again_stolen": sum(len(r.get("stolen_shares_left_out", ())) for r in mine),
                "stolen": sum(stolen(r) for r in mine),
                "idle_share": median([r.get("machine_idle_share") for r in mine]),
                "steal_share_max": max((r.get("machine_steal_share") or 0 for r in mine), default=0),
            }
        boots = {}
        for names in configurations(targets):
            samples = [r["boot_s"] for r in runs if r["concurrency"] == concurrency and r["target"] in names]
            if samples:
                boots[", ".join(names)] = {"boots": samples, "median": median(samples)}
        summary[concurrency] = {"rounds": rounds, "targets": rows, "boot_by_configuration": boots}
    return summary


def spread(ratios):
    """The lowest and highest of a target's per-round ratios: how far one round's figure may stray
    from the median, so that a median near its limit is read as such."""
    if not ratios or len(ratios) < 2:
        return ""
    return f"rounds {min(ratios):.2f}-{max(ratios):.2f}"


def criteria(summary):
    """Each promise as measured: value, limit, met (None when the targets it needs were not run)."""
    results = []
    for concurrency, data in summary.items():
        rows = data["targets"]

        def add(key, value, limit, ok, unit, detail=""):
            results.append(
                {
                    "criterion": key,
                    "text": CRITERIA_TEXT[key],
                    "web_concurrency": concurrency,
                    "value": value,
                    "limit": limit,
                    "unit": unit,
                    "met": ok if value is not None else None,
                    "detail": detail,
                }
            )

        redis, postgres = rows.get("redis", {}), rows.get("postgres", {})
        value = redis.get("rps_ratio")
        add("redis_rps", value, 0.85, value is not None and value >= 0.85, "x", spread(redis.get("rps_ratios")))
        value = postgres.get("rps_ratio")
        add("postgres_rps", value, 0.5, value is not None and value >= 0.5, "x", spread(postgres.get("rps_ratios")))
        value = redis.get("p99_ratio")
        add("redis_p99", value, 1.5, value is not None and value <= 1.5, "x", spread(redis.get("p99_ratios")))
        for key, target in (("api_hit_rps", "api-hit"), ("badge_rps", "badge")):
            value = rows.get(target, {}).get("rps_ratio")
            if concurrency == 2:
                add(
                    key,
                    value,
                    0.6,
                    value is not None and value >= 0.6,
                    "x",
                    spread(rows.get(target, {}).get("rps_ratios")),
                )
        django = {n: r for n, r in rows.items() if n != "yardstick" and not n.endswith(BASELINE)}
        if concurrency == 2 and django:
            if all(row["resident_mib_max"] is not None for row in django.values()):
                worst = max(django, key=lambda n: django[n]["resident_mib_max"])
                value = django[worst]["resident_mib_max"]
                add(
                    "memory",
                    value,
                    120,
                    value <= 120,
                    "MiB",
                    f"largest of any app target ({worst}, highest round); the sum of its processes' RSS "
                    f"{django[worst]['rss_mib_max']:.1f} MiB, their PSS {django[worst]['pss_mib']:.1f} MiB",
                )
            else:
                add("memory", None, 120, False, "MiB", "reading which pages processes share needs root")
        boots = data["boot_by_configuration"]
        if boots:
            worst = max(boots, key=lambda n: boots[n]["median"])
            value = boots[worst]["median"]
            add(
                "boot",
                value,
                0.5,
                value <= 0.5,
                "s",
                f"slowest configuration's median of its {len(boots[worst]['boots'])} boots ({worst})",
            )
    return results


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(summary, checks, labels):
    lines = []
    width = max([9] + [len(name) for name in labels])
    columns = [
        ("target", "<", width),
        ("req/s", ">", 7),
        ("x yard", ">", 6),
        ("p50 ms", ">", 7),
        ("p90 ms", ">", 7),
        ("p99 ms", ">", 7),
        ("p99 x", ">", 6),
        ("non-2xx", ">", 7),
        ("sock err", ">", 8),
        ("app cpu", ">", 7),
        ("pg cpu", ">", 6),
        ("redis", ">", 6),
        ("dyno MiB", ">", 8),
        ("RSS MiB", ">", 7),
        ("PSS MiB", ">", 7),
        ("boot s", ">", 6),
    ]
    header = "  ".join(format(title, f"{align}{width}") for title, align, width in columns)
    for concurrency, data in summary.items():
        lines.append(
            f"WEB_CONCURRENCY={concurrency} (medians over {len(data['rounds'])} rounds; cpu in ms per request)"
        )
        lines.append(header)
        lines.append("-" * len(header))
        for name, row in data["targets"].items():
            cells = [
                name,
                fmt(row["rps"], ".0f"),
                fmt(row["rps_ratio"], ".2f"),
                fmt(row["p50_ms"], ".1f"),
                fmt(row["p90_ms"], ".1f"),
                fmt(row["p99_ms"], ".1f"),
                fmt(row["p99_ratio"], ".2f"),
                str(row["non_2xx"]),
                str(row["socket_errors"]),
                fmt(row["server_cpu_ms"], ".2f"),
                fmt(row["postgres_cpu_ms"], ".2f"),
                fmt(row["redis_cpu_ms"], ".2f"),
                fmt(row["resident_mib"], ".1f"),
                fmt(row["rss_mib"], ".1f"),
                fmt(row["pss_mib"], ".1f"),
                fmt(row["boot_s"], ".2f"),
            ]
            lines.append(
                "  ".join(
                    format(cell, f"{align}{width}") for cell, (_, align, width) in zip(cells, columns, strict=True)
                )
            )
        lines.append("")
    lines.append("Targets (met or not, on the medians above):")
    for check in checks:
        verdict = {True: "MET", False: "NOT MET", None: "not measured"}[check["met"]]
        units = {"x": "x", "s": " s", "MiB": " MiB"}
        # Three decimals, so that a ratio just under its limit never prints as the limit itself.
        value = "-" if check["value"] is None else f"{check['value']:.3f}{units[check['unit']]}"
        detail = f"  ({check['detail']})" if check["detail"] else ""
        lines.append(
            f"  WEB_CONCURRENCY={check['web_concurrency']}  {check['text']:<62} {value:>10}  {verdict}{detail}"
        )
    problems = [
        f"WEB_CONCURRENCY={concurrency} {name}: "
        + ", ".join(
            f"{row[key]} {what}"
            for key, what in (
                ("non_2xx", "non-2xx responses"),
                ("socket_errors", "socket errors"),
                ("log_problems", "warning/error log lines"),
                ("uncounted", "requests not counted"),
            )
            if row[key]
        )
        for concurrency, data in summary.items()
        for name, row in data["targets"].items()
        if row["non_2xx"] or row["socket_errors"] or row["log_problems"] or row["uncounted"]
    ]
    lines.append("")
    lines.append(
        "Checks: "
        + (
            "every response was a 200, with no socket error, no warning in the logs, and every page view counted"
            if not problems
            else "PROBLEMS"
        )
    )
    lines.extend(f"  {problem}" for problem in problems)
    lines.append(
        retried(
            summary,
            "measured_again",
            "lopsided",
            f"Spread: {{}} run(s) measured again because one worker used over {LOPSIDED_SHARE:.0%} of the workers' CPU; ",
            "lopsided still after the retries: {}",
            "every run kept spread its load",
        )
    )
    lines.append(
        retried(
            summary,
            "measured_again_stolen",
            "stolen",
            f"Steal: {{}} run(s) measured again because the hypervisor took over {STOLEN_SHARE:.0%} of the machine's CPU time; ",
            "stolen still after the retries: {}",
            "no run kept lost more",
        )
    )
    stolen_most = [row["steal_share_max"] for data in summary.values() for row in data["targets"].values()]
    idle = [
        row["idle_share"]
        for data in summary.values()
        for row in data["targets"].values()
        if row["idle_share"] is not None
    ]
    if idle:
        lines.append(
            f"Machine: during the loads its CPUs stood idle {min(idle):.0%}-{max(idle):.0%} of the time (median per target), "
            f"and the hypervisor took up to {max(stolen_most):.0%} of it in a run kept (steal)"
        )
    lines.append("")
    lines.append("Legend:")
    lines.extend(f"  {name:<{width}}  {label}" for name, label in labels.items())
    return "\n".join(lines)


def compare(runs, concurrencies, names):
    """The A/B of each target among ``names`` whose baseline twin is there too, per WEB_CONCURRENCY:
    each round's new / baseline for requests/s and p99, the two measured side by side, and their
    medians over rounds; and each side's median memory held and boot."""
    result = {}
    for concurrency in concurrencies:
        rows = {}
        for name in names:
            new, base = (
                {r["round"]: r for r in runs if r["concurrency"] == concurrency and r["target"] == n}
                for n in (name, name + BASELINE)
            )
            rounds = sorted(set(new) & set(base))
            if not rounds:
                continue
            rps_ratios = [new[n]["rps"] / base[n]["rps"] for n in rounds if base[n]["rps"]]
            p99_ratios = [
                new[n]["latency_ms"]["p99"] / base[n]["latency_ms"]["p99"]
                for n in rounds
                if base[n]["latency_ms"]["p99"]
            ]
            rows[name] = {
                "baseline": name + BASELINE,
                "rounds": len(rounds),
                "rps_ratio": median(rps_ratios),
                "rps_ratios": rps_ratios,
                "p99_ratio": median(p99_ratios),
                "p99_ratios": p99_ratios,
                "resident_mib": median([new[n].get("resident_mib") for n in rounds]),
                "baseline_resident_mib": median([base[n].get("resident_mib") for n in rounds]),
                "boot_s": median([new[n]["boot_s"] for n in rounds]),
                "baseline_boot_s": median([base[n]["boot_s"] for n in rounds]),
            }
        result[concurrency] = rows
    return result


def ab_table(ab, baseline):
    """The A/B section printed after the table: a line per pair and WEB_CONCURRENCY."""
    lines = [
        f"A/B: this tree (new) against {baseline} (base). req/s x and p99 x: new / base in each round, median",
        "over rounds, then the lowest and highest round (above 1 for req/s, below 1 for p99, favours the new).",
        "dyno MiB and boot s: each side's median.",
    ]
    columns = [
        ("target", "<", 9),
        ("req/s x", ">", 7),
        ("rounds", ">", 9),
        ("p99 x", ">", 6),
        ("rounds", ">", 9),
        ("dyno MiB new", ">", 12),
        ("base", ">", 6),
        ("boot s new", ">", 10),
        ("base", ">", 5),
    ]
    header = "  ".join(format(title, f"{align}{width}") for title, align, width in columns)
    for concurrency, rows in ab.items():
        lines += ["", f"WEB_CONCURRENCY={concurrency}", header, "-" * len(header)]
        for name, row in rows.items():
            cells = [
                name,
                fmt(row["rps_ratio"], ".2f"),
                lowest_highest(row["rps_ratios"]),
                fmt(row["p99_ratio"], ".2f"),
                lowest_highest(row["p99_ratios"]),
                fmt(row["resident_mib"], ".1f"),
                fmt(row["baseline_resident_mib"], ".1f"),
                fmt(row["boot_s"], ".2f"),
                fmt(row["baseline_boot_s"], ".2f"),
            ]
            lines.append(
                "  ".join(
                    format(cell, f"{align}{width}") for cell, (_, align, width) in zip(cells, columns, strict=True)
                )
            )
    return "\n".join(lines)


def lowest_highest(ratios):
    return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"


def retried(summary, again_key, kept_key, heading, kept_text, none_kept):
    """A table line: how many runs were measured again for one reason, then which targets' kept runs
    still had it (with how many), or ``none_kept``."""
    rows = [(concurrency, name, row) for concurrency, data in summary.items() for name, row in data["targets"].items()]
    kept = [
        f"WEB_CONCURRENCY={concurrency} {name} ({row[kept_key]})" for concurrency, name, row in rows if row[kept_key]
    ]
    again = sum(row[again_key] for _, _, row in rows)
    return heading.format(again) + (kept_text.format(", ".join(kept)) if kept else none_kept)


def nice_max(value):
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 times a power of ten) >= value."""
    if not value or value <= 0:
        return 1
    exponent = 10 ** int(f"{value:e}".split("e")[1])
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 10):
        if step * exponent >= value:
            return step * exponent
    return 10 * exponent


def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chart(summary, title):
    """Hand-written SVG: two panels (requests/s, p99 ms), a group per target, a bar per WEB_CONCURRENCY."""
    concurrencies = list(summary)
    names = []
    for data in summary.values():
        names += [n for n in data["targets"] if n not in names]
    colours = ["#3465a4", "#f57900", "#4e9a06", "#75507b"]
    width, panel_h, left, top, gap = 860, 260, 80, 84, 90
    plot_w = width - left - 30
    height = top + 2 * panel_h + gap + 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{esc(title)}</text>',
    ]
    for i, c in enumerate(concurrencies):
        x = left + i * 170
        out.append(f'<rect x="{x}" y="36" width="12" height="12" fill="{colours[i % 4]}"/>')
        out.append(f'<text x="{x + 18}" y="46">WEB_CONCURRENCY={c}</text>')
    panels = [
        ("rps", "requests/s (median over rounds)", "requests per second"),
        ("p99_ms", "p99 latency (median over rounds)", "milliseconds"),
    ]
    for p, (key, panel_title, axis) in enumerate(panels):
        y0 = top + p * (panel_h + gap)
        bottom = y0 + panel_h
        values = [summary[c]["targets"].get(n, {}).get(key) for c in concurrencies for n in names]
        top_value = nice_max(max([v for v in values if v is not None] or [1]))
        out.append(f'<text x="{left}" y="{y0 - 8}" font-weight="bold">{esc(panel_title)}</text>')
        for k in range(6):
            value = top_value * k / 5
            y = bottom - panel_h * k / 5
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{round(value, 6):g}</text>')
        out.append(f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{bottom}" stroke="black"/>')
        out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="black"/>')
        out.append(
            f'<text transform="translate({left - 52},{y0 + panel_h / 2}) rotate(-90)" text-anchor="middle">{esc(axis)}</text>'
        )
        group_w = plot_w / max(1, len(names))
        bar_w = min(40, group_w * 0.7 / max(1, len(concurrencies)))
        for g, name in enumerate(names):
            gx = left + g * group_w + (group_w - bar_w * len(concurrencies)) / 2
            for i, c in enumerate(concurrencies):
                value = summary[c]["targets"].get(name, {}).get(key)
                if value is None:
                    continue
                h = panel_h * value / top_value
                x = gx + i * bar_w
                out.append(
                    f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colours[i % 4]}">'
                    f"<title>{esc(name)}, WEB_CONCURRENCY={c}: {value:.1f}</title></rect>"
                )
                out.append(
                    f'<text x="{x + bar_w / 2 - 1:.1f}" y="{bottom - h - 3:.1f}" text-anchor="middle" font-size="10">{value:.0f}</text>'
                )
            out.append(
                f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{bottom + 16}" text-anchor="middle">{esc(name)}</text>'
            )
        out.append(f'<text x="{left + plot_w / 2}" y="{bottom + 34}" text-anchor="middle">target</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- machine --------------------------------------------------------------------------------


def machine(services):
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else None,
        "memory_mib": int(total.group(1)) // 1024 if total else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": importlib.metadata.version("django"),
        "gunicorn": importlib.metadata.version("gunicorn"),
        "whitenoise": importlib.metadata.version("whitenoise"),
        "psycopg": importlib.metadata.version("psycopg"),
        "redis_py": importlib.metadata.version("redis"),
        "hiredis": importlib.metadata.version("hiredis"),
        "wrk": wrk_version[0] if wrk_version else None,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        **services.versions(),
    }


# --- main -------------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s warm-up, 3 s load, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds per WEB_CONCURRENCY (default 3; --quick 2)")
    parser.add_argument("--duration", type=float, help="seconds of load per target and round (default 10; --quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of wrk before each load (default 2; --quick 1)")
    parser.add_argument("--concurrency", default="2,1", help="WEB_CONCURRENCY values, comma-separated (default 2,1)")
    parser.add_argument("--targets", default=",".join(TARGET_NAMES), help=f"subset of {','.join(TARGET_NAMES)}")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help=f"times a run is measured again when one worker used over {LOPSIDED_SHARE * 100:.0f}%% of the workers' CPU, "
        f"or the hypervisor took over {STOLEN_SHARE * 100:.0f}%% of the machine's (default 2)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help=f"also serve git revision REF's tree as {' and '.join(t + BASELINE for t in TWINNED)}, "
        "each beside its target in every round, and compare the two (A/B)",
    )
    parser.add_argument(
        "--output", default=str(BENCH / "results.json"), help="JSON results (default bench/results.json)"
    )
    parser.add_argument("--chart", default=str(BENCH / "chart.svg"), help="SVG chart (default bench/chart.svg)")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    if args.duration is None:
        args.duration = 3 if args.quick else 10
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGET_NAMES)
    if unknown or not args.targets:
        parser.error(f"--targets: unknown {sorted(unknown)}; choose from {TARGET_NAMES}")
    if args.baseline and not set(args.targets) & set(TWINNED):
        parser.error(f"--baseline compares the targets {', '.join(TWINNED)}: --targets has none of them")
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or any(c < 1 for c in args.concurrency):
        parser.error("--rounds, --duration and --concurrency must be at least 1")
    if args.retries < 0:
        parser.error("--retries must be 0 or more")
    if not float(args.duration).is_integer() or not float(args.warmup).is_integer():
        parser.error("wrk takes whole seconds: --duration and --warmup must be whole numbers")
    args.duration, args.warmup = int(args.duration), int(args.warmup)
    return args


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    args = parse_args(argv)
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed: run bench/run, or install it (apt-get install wrk)")
    # Ctrl-C and SIGTERM both end the run through the cleanup below, even where SIGINT was
    # ignored on start (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    targets = [t for t in TARGETS if t[0] in args.targets]
    if args.baseline:
        commit = resolve(args.baseline)
        baseline = f"{args.baseline} ({commit[:7]})"
        targets = with_twins(targets, baseline)
    labels = {t[0]: t[1] for t in targets}
    width = max([9] + [len(name) for name in labels])
    workdir = tempfile.mkdtemp(prefix="herokuapp-bench-")
    services = None
    runs = []
    started = datetime.datetime.now(datetime.UTC)
    try:
        if args.baseline:
            log(f"bench: baseline {baseline}: its tree from git archive")
            extract(commit, tree(BASELINE, workdir))
        services = Services(workdir, baseline=bool(args.baseline))
        secret_key = secrets.token_urlsafe(50)
        log("bench: build (collectstatic) and release (migrate) for each database")
        for directory in [ROOT, tree(BASELINE, workdir)] if args.baseline else [ROOT]:
            run_checked(
                "python manage.py collectstatic --noinput --verbosity 0",
                base_environment(),
                "collectstatic",
                cwd=directory,
            )
        for database in services.urls:
            env = base_environment() | {"DATABASE_URL": services.urls[database], "SECRET_KEY": secret_key}
            if database in services.redis_urls:
                env["REDIS_URL"] = services.redis_urls[database]
            run_checked(procfile("release"), env, f"release on {database}", cwd=tree(database, workdir))
        info = machine(services)
        by_name = {t[0]: t for t in targets}
        planned = list(schedule(args.rounds, args.concurrency, list(by_name)))
        log(
            f"bench: {len(planned)} runs of {args.warmup} s warm-up + {args.duration} s load "
            f"(wrk -t{args.threads} -c{args.connections}); load average {' '.join(info['loadavg_at_start'])}"
        )
        static_path = None
        for round_number, concurrency, name in planned:
            target = by_name[name]
            run = measure_spread(
                lambda: measure(target, concurrency, services, secret_key, workdir, args, static_path),
                args.retries,
            )
            static_path = run["static_path"] or static_path
            run["round"] = round_number
            runs.append(run)
            problems = f", {run['log_problems']} warning/error log lines" if run["log_problems"] else ""
            share = run["busiest_worker_cpu_share"]
            spread = f"  busiest worker {share:.0%} of CPU" if share is not None else ""
            if len(run["connections_per_worker"]) > 1:
                spread += f", connections {'/'.join(map(str, run['connections_per_worker']))}"
            if run["machine_steal_share"] is not None:
                spread += f"  idle {run['machine_idle_share']:.0%}, steal {run['machine_steal_share']:.0%}"
            log(
                f"  WEB_CONCURRENCY={concurrency} round {round_number}/{args.rounds} {name:<{width}} "
                f"boot {run['boot_s']:.2f} s  {run['rps']:7.0f} req/s  p99 {run['latency_ms']['p99']:6.1f} ms  "
                f"non-2xx {run['non_2xx']}  socket errors {run['socket_errors']}  "
                f"cpu {fmt(run['server_cpu_ms_per_request'], '.2f')} ms/req  "
                f"dyno {fmt(run['resident_mib'], '.0f')} MiB (RSS {run['rss_mib']:.0f}){spread}{problems}"
            )
    except KeyboardInterrupt:
        log("bench: interrupted; servers stopped, cleaning up")
        return 130
    finally:
        if services:
            services.close()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = summarize(runs, args.concurrency, [t[0] for t in targets])
    checks = criteria(summary)
    text = table(summary, checks, labels)
    if args.baseline:
        ab = compare(runs, args.concurrency, list(labels))
        text += "\n\n" + ab_table(ab, baseline)
    log("")
    log(text)
    finished = datetime.datetime.now(datetime.UTC)
    info["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results = {
        "date": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": info,
        "parameters": {
            "web_concurrency": args.concurrency,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "wrk": f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency --timeout 10s -s bench/router.lua",
            "wrk_warmup": f"wrk -t{args.threads} -c{args.connections} -d{args.warmup}s --latency --timeout 10s -s bench/router.lua",
            "web_command": procfile("web"),
            "order": "rounds, each of every WEB_CONCURRENCY in turn, each of every target in turn: "
            + " ".join(labels)
            + (", each baseline twin before its target in even rounds" if args.baseline else ""),
            "postgres": POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/<database created for the run>",
            "redis": REDIS_URL,
        },
        "targets": labels,
        "summary": {str(c): s for c, s in summary.items()},
        "criteria": checks,
        "runs": runs,
        "table": text,
    }
    if args.baseline:
        results["parameters"]["baseline"] = {
            "ref": args.baseline,
            "commit": commit,
            "redis": services.redis_urls["redis-pg" + BASELINE],
        }
        results["ab"] = {str(c): rows for c, rows in ab.items()}
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    title = f"herokuapp benchmark, {started:%Y-%m-%d}{' (quick smoke run)' if args.quick else ''}, {info['nproc']} CPUs"
    Path(args.chart).write_text(chart(summary, title))
    log(f"\nbench: wrote {os.path.relpath(args.output, ROOT)} and {os.path.relpath(args.chart, ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
