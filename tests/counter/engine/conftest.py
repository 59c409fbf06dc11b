"""Real services for the engine's tests, and ways to break them that the tests control.

A redis-server of the test's own may be paused, emptied, or restarted (empty, or from a snapshot
it saved) without touching the Redis that other tests share: a restart, SCRIPT FLUSH and a paused
server reach every client and every database of a server. A RedisLink is a TCP path to Redis that the test can cut
or reset in the middle of a call. A Process is one simulated gunicorn worker: its own RedisStore
and the REDIS_URL it was started with, which the Django setting takes whenever the process acts.
"""

import hashlib
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest
import redis
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from counter.engine import scripts
from counter.engine.redis_store import RedisStore
from counter.models import Counter, RedisInstance
from tests.support.services import free_port, redis_available, require_program

PAGE = "page"


# --- the database's record -------------------------------------------------------------------


def script_shas(*sources, databases=range(16)):
    """The SHAs of the engine's scripts (all, or ``sources``) as the given databases run them."""
    return [
        hashlib.sha1(text.encode()).hexdigest()
        for database in databases
        for source, text in scripts.for_database(database).items()
        if not sources or source in sources
    ]


def durable(name=PAGE):
    """The views of ``name`` the database holds."""
    return Counter.objects.filter(name=name).values_list("views", flat=True).first() or 0


def durable_sum():
    """The views of every counter the database holds."""
    return Counter.objects.aggregate(views=Sum("views"))["views"] or 0


def taken(instance_id):
    """How far the database has taken the batches of a Redis instance (0: none yet)."""
    return RedisInstance.objects.filter(id=instance_id).values_list("taken", flat=True).first() or 0


@pytest.fixture
def database_unreachable():
    """Call it to make the default database unreachable for this thread (PostgreSQL on a port no
    server listens on, SQLite in a directory that does not exist); the test's end reconnects."""
    original = dict(connection.settings_dict)

    def cut():
        connection.close()
        if connection.vendor == "postgresql":
            connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
        else:
            connection.settings_dict["NAME"] = "/nonexistent-herokuapp-directory/db.sqlite3"

    def restore():
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)

    cut.restore = restore
    yield cut
    restore()


# --- Redis -----------------------------------------------------------------------------------


def instance_state(client):
    """The instance hash of the Redis store, decoded: id, epoch, run_id (of the server process it
    was reconciled on), batch, inflight, refreshed."""
    return {key.decode(): value.decode() for key, value in client.hgetall(scripts.INSTANCE).items()}


def counter_state(client, name=PAGE):
    """A counter's hash in Redis as numbers: base, pending, inflight ({} if Redis has none)."""
    return {key.decode(): int(value) for key, value in client.hgetall(scripts.count(name)).items()}


def unreachable_redis_url():
    """A Redis URL on which connections are refused: nothing listens on its port."""
    return f"redis://127.0.0.1:{free_port()}/0"


def require_redis_server():
    """A redis-server binary to start, or a skip (a failure in CI) saying how to get one."""
    redis_available()
    require_program("redis-server", "redis-server")


class RedisServer:
    """A redis-server of the test's own on a free port, saving nothing unless told to.

    ``save()`` writes its data to a file (SAVE, as an RDB snapshot is made) and returns a copy of
    it. ``restart_from(snapshot)`` stops the server and starts a new server process on the same
    port from that file, as a restart from an older RDB or AOF file leaves it; ``restart_empty()``
    starts it with no data, as a restart without persistence does. Either way the new process has
    a run id of its own and knows no scripts, for every database number. ``pause()`` stops the
    process (SIGSTOP: connections are accepted and commands queue, unanswered) until
    ``resume()``.
    """

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.paused = False
        self.process = None
        self.snapshots = 0
        self._start()

    @property
    def data_file(self):
        """The file the server loads its data from when it starts, and SAVE writes."""
        return self.directory / f"redis-{self.port}.rdb"

    def _start(self):
        log = open(self.directory / f"redis-{self.port}.log", "a")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
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
                self.data_file.name,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as probe:
                    if probe.ping():
                        return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.destroy()
                    raise RuntimeError(f"redis-server did not start: {self.log()}") from None
                time.sleep(0.005)

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db=0):
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5, socket_connect_timeout=5)

    def run_id(self):
        """The server process's run id, which changes with every start."""
        with self.client() as client:
            return client.info("server")["run_id"]

    def save(self):
        """A snapshot of every database of the server as it is now: the path of a copy of its RDB."""
        with self.client() as client:
            client.save()
        self.snapshots += 1
        snapshot = self.directory / f"snapshot-{self.port}-{self.snapshots}.rdb"
        shutil.copyfile(self.data_file, snapshot)
        return snapshot

    def restart_from(self, snapshot):
        """Stop the server, losing what it holds, and start it again from ``snapshot``."""
        self.destroy()
        shutil.copyfile(snapshot, self.data_file)
        self._start()

    def restart_empty(self):
        """Stop the server, losing what it holds, and start it again with no data."""
        self.destroy()
        self.data_file.unlink(missing_ok=True)
        self._start()

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused:
            self.process.send_signal(signal.SIGCONT)
            self.paused = False

    def log(self):
        return (self.directory / f"redis-{self.port}.log").read_text(errors="replace")[-2000:]

    def destroy(self):
        self.resume()
        if self.process.poll() is None:
            self.process.kill()  # nothing is saved on the way out: the next start's data is chosen
        self.process.wait()


@pytest.fixture
def start_redis_server(tmp_path):
    """Call it for a redis-server of this test's own (each one a separate server process); every
    one is gone after the test."""
    require_redis_server()
    servers = []

    def start():
        servers.append(RedisServer(tmp_path))
        return servers[-1]

    yield start
    for server in servers:
        server.destroy()


@pytest.fixture
def redis_server(start_redis_server):
    """A redis-server of this test's own, gone afterwards."""
    return start_redis_server()


class RedisLink:
    """A TCP path to a Redis server through a port of its own, which the test breaks on purpose.

    ``cut()`` closes the port and resets every open connection: Redis is unreachable (a
    connection is refused, before any command is sent) until ``restore()``. ``reset_next_hit``
    resets the connection carrying the next view's script call, either before Redis receives it
    or after Redis ran it, in place of its answer: the call fails mid-command. ``commands`` lists
    the name of every command sent through it, in order; ``writes`` counts the clients' writes,
    each of which may hold several commands (one round trip).
    """

    def __init__(self, host, port):
        self.target = (host, port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets = set()
        self.pumps = []  # the threads forwarding each connection's bytes
        self.traps = []  # "before" or "after", for the next HIT calls in order
        self.commands = []
        self.writes = 0
        self.listener = None
        self.restore()

    def url(self, db, credentials=""):
        """The URL of database ``db`` through the link; ``credentials`` (``user:password``) are for
        a Redis that wants a password, as Heroku's does."""
        return f"redis://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/{db}"

    def reset_next_hit(self, when="after", times=1):
        with self.lock:
            self.traps.extend([when] * times)

    def cut(self):
        with self.lock:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread accepting on it
            self.listener.close()
            self.listener = None
            for sock in list(self.sockets):
                self._reset(sock)
            pumps, self.pumps = self.pumps, []
        for pump in pumps:  # a socket is released (and its reset sent) once no thread reads it
            pump.join(5)

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self):
        if self.listener is not None:
            self.cut()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets.update((client, server))
            pair = {"client": client, "server": server, "answer": "forward"}
            for pump in (self._requests, self._answers):
                thread = threading.Thread(target=pump, args=(pair,), daemon=True)
                thread.start()
                with self.lock:
                    self.pumps.append(thread)

    def _requests(self, pair):
        hits = [sha.encode() for sha in script_shas(scripts.HIT)]
        unparsed = b""
        while data := self._recv(pair["client"]):
            with self.lock:
                self.writes += 1
            unparsed = self._record(unparsed + data)
            trap = None
            with self.lock:
                if any(hit in data for hit in hits) and self.traps:
                    trap = self.traps.pop(0)
            if trap == "before":
                return self._break(pair)
            if trap == "after":
                pair["answer"] = "reset"
            try:
                pair["server"].sendall(data)
            except OSError:
                return self._break(pair)
        self._break(pair)

    def _answers(self, pair):
        while data := self._recv(pair["server"]):
            if pair["answer"] == "reset":
                return self._break(pair)
            try:
                pair["client"].sendall(data)
            except OSError:
                return self._break(pair)
        self._break(pair)

    def _record(self, data):
        """Record the names of the complete commands (RESP arrays of bulk strings) at the start of
        ``data``; returns the rest."""
        while data.startswith(b"*"):
            end = data.find(b"\r\n")
            if end < 0:
                return data
            position, parts = end + 2, []
            for _ in range(int(data[1:end])):
                end = data.find(b"\r\n", position)
                if end < 0:
                    return data
                length = int(data[position + 1 : end])
                if len(data) < end + 2 + length + 2:
                    return data
                parts.append(data[end + 2 : end + 2 + length])
                position = end + 2 + length + 2
            with self.lock:
                self.commands.append(parts[0].decode().upper())
            data = data[position:]
        return data

    @staticmethod
    def _recv(sock):
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    def _break(self, pair):
        with self.lock:
            self._reset(pair["client"])
            self._reset(pair["server"])

    def _reset(self, sock):
        """Close with a TCP reset, as a failing network or server does (caller holds the lock)."""
        self.sockets.discard(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)  # wakes a thread reading it, so that closing it is final
        except OSError:
            pass
        sock.close()


def credentials(url):
    """The ``user:password`` of a Redis URL, or "" when it has none."""
    return urllib.parse.urlsplit(url).netloc.rpartition("@")[0]


@pytest.fixture
def redis_link(redis_url):
    """A RedisLink to the tests' Redis; ``redis_link.url`` names the same database through it."""
    client = redis.Redis.from_url(redis_url)
    options = client.connection_pool.connection_kwargs
    link = RedisLink(options["host"], options["port"])
    link.url = link.url(options.get("db", 0), credentials(redis_url))
    client.close()
    yield link
    link.close()


@pytest.fixture
def redis_client(redis_counter):
    """A client of the tests' Redis, to look at what the store keeps there."""
    client = redis.Redis.from_url(redis_counter)
    yield client
    client.close()


# --- simulated processes -----------------------------------------------------------------------


def use_redis_url(url):
    """Make ``url`` the REDIS_URL setting in place, telling Django's receivers as
    override_settings does (herokuapp.redis_client then connects there). Used inside the
    ``process`` fixture's override, which the test's end undoes: switching thousands of times
    nests nothing."""
    if django_settings.REDIS_URL != url:
        django_settings.REDIS_URL = url
        setting_changed.send(sender=type(django_settings._wrapped), setting="REDIS_URL", value=url, enter=True)


class Process:
    """One simulated gunicorn worker: a RedisStore of its own, started with ``url`` as REDIS_URL.

    The store reads REDIS_URL through herokuapp.redis_client.get_redis() at each call; each
    method first makes the setting this process's URL, so that processes with different
    REDIS_URLs take turns in one test process. ``url`` may change (the process loses Redis, or
    is restarted with another REDIS_URL).
    """

    def __init__(self, url):
        self.url = url
        self._enter()
        self.store = RedisStore()

    def _enter(self):
        use_redis_url(self.url)

    def hit(self, name=PAGE):
        self._enter()
        return self.store.hit(name)

    def get(self, name=PAGE):
        self._enter()
        return self.store.get(name)

    def flush(self):
        self._enter()
        return self.store.flush()

    def stop(self):
        self._enter()
        self.store.stop()

    @property
    def down(self):
        return self.store.down


@pytest.fixture
def process(redis_counter):
    """Call it with a Redis URL (the tests' Redis by default) for a new simulated process."""
    with override_settings(REDIS_URL=redis_counter):
        yield lambda url=None: Process(url or redis_counter)
