"""herokuapp.redis_client: one lazily made Redis client per process, over TLS as Heroku requires.

The TLS tests talk to a real redis-server of their own (tests/support/redis_tls.py) whose certificate is
self-signed, as Heroku Key-Value Store's is. Nothing here mocks Redis.
"""

import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback

import pytest
import redis
from redis.connection import Encoder, PythonRespSerializer

from counter.engine import scripts
from counter.engine.redis_store import RedisStore
from herokuapp.redis_client import get_redis, packed, registered_script, script_connections
from tests.support.dyno import ROOT, dyno_environment

KEY = "herokuapp:test:tls"


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections (the kernel completes them) but never reads or answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def use_redis(settings, url, cert_reqs=None):
    """Point the app at ``url``; changing the setting makes get_redis() build a new client."""
    settings.REDIS_URL = url
    if cert_reqs is not None:
        settings.REDIS_SSL_CERT_REQS = cert_reqs
    return get_redis()


# --- over TLS, against a server with a self-signed certificate ---------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_default_cert_reqs_connect_to_a_self_signed_server_and_count(settings, redis_tls):
    assert settings.REDIS_SSL_CERT_REQS == "none", "the default; tests/herokuapp/test_settings.py checks it unset"
    settings.REDIS_URL = redis_tls.url
    store = RedisStore()
    assert [store.hit("test") for _ in range(3)] == [1, 2, 3]
    # The store would count in the database were Redis unreachable: read the count back from this
    # server, with a client that verifies it against the test CA.
    assert not store.down
    with redis_tls.client() as verified:
        assert verified.hmget(scripts.count("test"), "base", "pending") == [b"0", b"3"]


@pytest.mark.slow
def test_the_tls_client_does_not_verify_by_default(settings, redis_tls):
    client = use_redis(settings, redis_tls.url)
    pool = client.connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none"
    connection = pool.make_connection()
    assert connection.cert_reqs == ssl.CERT_NONE
    assert connection.check_hostname is False
    connection.disconnect()


@pytest.mark.slow
@pytest.mark.parametrize("cert_reqs", ["required", "optional"])
def test_verifying_cert_reqs_reject_the_self_signed_server(settings, redis_tls, cert_reqs):
    """ "optional" too: for a client Python's ssl treats CERT_OPTIONAL as CERT_REQUIRED, since a
    server always presents a certificate. Only "none" accepts Heroku's."""
    client = use_redis(settings, redis_tls.url, cert_reqs=cert_reqs)
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED") as failure:
        client.ping()
    assert not isinstance(failure.value, redis.AuthenticationError)
    # Control: the server's certificate is sound for 127.0.0.1; only the trust in its CA is missing.
    with redis_tls.client(ssl_cert_reqs="required") as verified:
        assert verified.ping() is True


@pytest.mark.slow
@pytest.mark.parametrize("password", ["wrong-password", ""], ids=["wrong", "none"])
def test_a_wrong_or_missing_password_is_an_authentication_error(settings, redis_tls, password):
    client = use_redis(settings, redis_tls.url_for(password=password))
    with pytest.raises(redis.AuthenticationError):
        client.incr(KEY)
    with redis_tls.client() as verified:
        assert verified.get(KEY) is None


# --- plain redis://: no SSL options --------------------------------------------------------------


def test_no_ssl_options_are_passed_for_a_plain_redis_url(settings):
    client = use_redis(settings, "redis://127.0.0.1:1/0")
    pool = client.connection_pool
    assert pool.connection_class is redis.Connection
    assert not [name for name in pool.connection_kwargs if name.startswith("ssl")]
    pool.make_connection()  # what an SSL option would make fail, as the next test shows


def test_redis_py_rejects_ssl_options_on_a_plain_connection():
    """Why redis_client passes ssl_cert_reqs only for rediss:// (true of redis 8.1).

    from_url accepts the option; the first command then fails making the connection, with a
    TypeError rather than a RedisError: it would escape `except redis.RedisError` (as in check_redis).
    """
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", ssl_cert_reqs="none")
    with pytest.raises(TypeError, match="unexpected keyword argument 'ssl_cert_reqs'"):
        client.ping()


# --- timeouts ------------------------------------------------------------------------------------


def test_connect_and_read_timeouts_are_short(settings):
    pool = use_redis(settings, "redis://127.0.0.1:1/0").connection_pool
    assert pool.connection_kwargs["socket_connect_timeout"] == 0.5
    assert pool.connection_kwargs["socket_timeout"] == 0.5


@pytest.mark.parametrize("scheme", ["redis", "rediss"])
def test_a_server_that_never_answers_fails_a_command_quickly(settings, silent_server, scheme):
    """A PING waits for the read timeout (or, over TLS, the handshake for the connect timeout) once:
    no retries stretch it out. The bound would catch redis-py's default of three retries."""
    client = use_redis(settings, f"{scheme}://:password@127.0.0.1:{silent_server}/0")
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.ping()
    assert time.monotonic() - started < 1.5


# --- scripts --------------------------------------------------------------------------------------

ADD = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
# Holds Redis for 1.2 s, more than twice the read timeout, then answers.
SLOW = """
local started = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - started[1]) * 1000000 + (now[2] - started[2]) > 1200000
return 'late'
"""


def test_a_script_is_sent_by_its_sha_and_again_in_full_once_redis_forgot_it(settings, redis_url):
    client = use_redis(settings, redis_url)
    add = registered_script(client, ADD)
    assert registered_script(client, ADD) is add, "registered once per client"
    assert add(keys=[KEY], args=[2]) == 2
    assert client.script_exists(add.sha) == [True]
    client.script_flush()  # as after a restart
    assert add(keys=[KEY], args=[3]) == 5
    assert client.script_exists(add.sha) == [True]


def test_a_script_returns_what_redis_py_s_own_script_object_returns(settings, redis_url):
    client = use_redis(settings, redis_url)
    listing = "redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2]); return {redis.call('LLEN', KEYS[1]), ARGV[1], -1}"
    ours = registered_script(client, listing)(keys=[KEY], args=["a", 7])
    theirs = client.register_script(listing)(keys=[KEY], args=["a", 7])
    assert ours == [2, b"a", -1]
    assert theirs == [4, b"a", -1]


def test_a_script_sends_what_redis_py_would_send_with_hiredis_or_without(settings, redis_url, monkeypatch):
    client = use_redis(settings, redis_url)
    script = registered_script(client, "return {KEYS[1], ARGV[1], ARGV[2], ARGV[3]}")
    command = ("EVALSHA", script.sha, 1, KEY, "é", 7, 2.5)
    python_packer = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
    connection = script_connections(client).take()
    assert b"".join(packed(connection, [command])) == b"".join(python_packer.pack(*command)), (
        "as redis-py's own packer in Python"
    )
    script_connections(client).put_back(connection)
    assert script(keys=[KEY], args=["é", 7, 2.5]) == [KEY.encode(), "é".encode(), b"7", b"2.5"]
    monkeypatch.setattr(redis.utils, "HIREDIS_AVAILABLE", False)  # redis-py without hiredis: its own packer
    assert script(keys=[KEY], args=["é", 7, 2.5]) == [KEY.encode(), "é".encode(), b"7", b"2.5"]


def scripts_connection_id(client):
    """The server's id for the connection the client's scripts used last."""
    connection = script_connections(client).idle[-1]
    connection.send_command("CLIENT", "ID")
    return connection.read_response()


def test_a_script_call_that_times_out_leaves_no_late_reply_for_the_next_call(settings, redis_url):
    """The timed-out call's connection is dropped, not used by the next call with the slow
    script's reply still on its way: that call would read 'late' as its own answer."""
    client = use_redis(settings, redis_url)
    registered_script(client, ADD)(keys=[KEY], args=[0])
    connection_id = scripts_connection_id(client)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        registered_script(client, SLOW)()
    assert time.monotonic() - started < 1.2, "the call gave up before the script answered"
    with redis.Redis.from_url(redis_url, socket_timeout=5) as patient:
        assert patient.ping(), "the script has answered by now"
    assert registered_script(client, ADD)(keys=[KEY], args=[1]) == 1
    assert scripts_connection_id(client) != connection_id, "the connection connected afresh"


class Interrupted(Exception):
    pass


def test_a_script_call_interrupted_before_its_reply_leaves_no_reply_for_the_next_call(settings, redis_url):
    """Anything that stops a call between sending and reading (here a signal handler's exception,
    as gunicorn's SIGTERM or a KeyboardInterrupt would) drops the connection as a timeout does."""
    client = use_redis(settings, redis_url)

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            registered_script(client, SLOW)()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with redis.Redis.from_url(redis_url, socket_timeout=5) as patient:
        assert patient.ping(), "the script has answered by now"
    assert registered_script(client, ADD)(keys=[KEY], args=[1]) == 1


def test_a_kept_connection_that_redis_closed_is_replaced_without_failing_a_call(settings, redis_url):
    """As after a restart of Redis, or its timeout for idle clients: the next call connects anew."""
    client = use_redis(settings, redis_url)
    add = registered_script(client, ADD)
    add(keys=[KEY], args=[0])
    connection_id = scripts_connection_id(client)
    assert client.client_kill_filter(_id=connection_id) == 1
    assert add(keys=[KEY], args=[5]) == 5
    assert scripts_connection_id(client) != connection_id


def test_a_script_error_raised_by_redis_leaves_the_connection_usable(settings, redis_url):
    client = use_redis(settings, redis_url)
    registered_script(client, ADD)(keys=[KEY], args=[0])
    connection_id = scripts_connection_id(client)
    with pytest.raises(redis.ResponseError, match="boom"):
        registered_script(client, "return redis.error_reply('boom')")()
    assert registered_script(client, ADD)(keys=[KEY], args=[4]) == 4
    assert scripts_connection_id(client) == connection_id


def test_scripts_keep_one_connection_per_call_running_at_once(settings, redis_url):
    """Calls one after another share one connection; calls at once each get one, and those are
    kept for later calls rather than returned to the pool and borrowed again."""
    client = use_redis(settings, redis_url)
    add, wait = registered_script(client, ADD), registered_script(client, "redis.call('INCR', KEYS[1]); return 1")
    for _ in range(50):
        add(keys=[KEY], args=[1])
    wait(keys=[KEY])
    assert len(script_connections(client).idle) == 1
    barrier = threading.Barrier(6)

    def at_once():
        barrier.wait()
        for _ in range(200):
            wait(keys=[KEY])

    threads = [threading.Thread(target=at_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = len(script_connections(client).idle)
    assert 1 < kept <= 6, "as many connections as calls that ran at once"
    created = client.connection_pool._created_connections
    for _ in range(200):
        add(keys=[KEY], args=[1])
    assert len(script_connections(client).idle) == kept
    assert client.connection_pool._created_connections == created, "the pool made none since"
    assert client.get(KEY) == b"1451"


# --- one client per process, made lazily ---------------------------------------------------------


def test_get_redis_returns_the_same_client_and_opens_no_connection_until_used(settings):
    client = use_redis(settings, "redis://127.0.0.1:1/0")
    assert get_redis() is client
    assert get_redis.cache_info().currsize == 1
    assert client.connection_pool._created_connections == 0


def test_changing_a_redis_setting_makes_a_new_client(settings):
    first = use_redis(settings, "redis://127.0.0.1:1/0")
    second = use_redis(settings, "redis://127.0.0.1:2/0")
    assert second is not first
    assert second.connection_pool.connection_kwargs["port"] == 2


WSGI_IMPORT = """
import sys
import herokuapp.wsgi
from herokuapp.redis_client import get_redis, registered_script
print(get_redis.cache_info().currsize, flush=True)
sys.stdin.readline()
print(get_redis().ping(), flush=True)
sys.stdin.readline()
"""


def read_line(process, timeout=20):
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        process.kill()
        pytest.fail(f"no answer from the process within {timeout} s: {process.communicate()}")
    return process.stdout.readline().strip()


@pytest.mark.slow
def test_importing_the_wsgi_app_opens_no_redis_connection(redis_tls, sqlite_url):
    """gunicorn's master imports herokuapp.wsgi before forking: it must hold no Redis connection."""
    env = dyno_environment(SECRET_KEY="w" * 60, DATABASE_URL=sqlite_url, REDIS_URL=redis_tls.url)
    process = subprocess.Popen(
        [sys.executable, "-c", WSGI_IMPORT],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert read_line(process) == "0", "importing the app made no client"
        assert redis_tls.clients() == [], "and opened no connection"
        process.stdin.write("\n")
        process.stdin.flush()
        assert read_line(process) == "True", "the first command connects (with the default REDIS_SSL_CERT_REQS)"
        assert [client["name"] for client in redis_tls.clients()] == ["herokuapp"]
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.wait(timeout=20) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def fork_and_count(hits):
    """The after-fork test's scenario, run in a process of its own: connect, fork, count ``hits``
    times in parent and child at once on the same client, then print each one's connection ids.
    Returns the child's exit status."""
    client = get_redis()
    add = registered_script(client, ADD)
    client.incr(KEY)
    add(keys=[KEY], args=[1])
    before = client.client_id(), scripts_connection_id(client)

    def count():
        for _ in range(hits):
            client.incr(KEY)
            add(keys=[KEY], args=[1])

    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's exit
        status = 1
        try:
            count()
            print("child", client.client_id(), scripts_connection_id(client), int(get_redis() is client), flush=True)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    count()
    _, status = os.waitpid(pid, 0)
    print("parent", *before, client.client_id(), scripts_connection_id(client), flush=True)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.slow
def test_after_fork_the_child_opens_connections_of_its_own(redis_tls, sqlite_url):
    """gunicorn forks workers from a master: the child drops the parent's client with the rest of
    herokuapp.process_state, and a client object it still holds is safe too, since redis-py's pool
    notices the new pid and starts afresh and the connections kept for scripts are made anew.

    The parent connects before forking; parent and child then count on the same client object at
    once, with commands and with a script. Had the child reused one of the parent's TLS
    connections, the two would have shared one server connection (one CLIENT ID) and garbled each
    other's replies. Like gunicorn's master, the process that forks runs no other thread (a fork
    beside running threads may copy a lock one of them holds).
    """
    hits = 200
    env = dyno_environment(
        SECRET_KEY="f" * 60,
        DATABASE_URL=sqlite_url,
        REDIS_URL=redis_tls.url,
        DJANGO_SETTINGS_MODULE="herokuapp.settings",
    )
    run = f"import django, sys; django.setup(); from {__name__} import fork_and_count; sys.exit(fork_and_count({hits}))"
    result = subprocess.run(
        [sys.executable, "-c", run],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"parent and child counted without error: {result.stdout}{result.stderr}"
    reports = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    child_id, child_script_id, same_client = map(int, reports["child"].split())
    parent_id, parent_script_id, parent_id_after, parent_script_id_after = map(int, reports["parent"].split())
    assert same_client == 0, "the child's get_redis() made a client of its own"
    assert child_id != parent_id, "the child connected on its own"
    assert child_script_id not in (parent_id, parent_script_id), "for its scripts too"
    assert parent_id_after == parent_id, "the child's exit left the parent's connection open"
    assert parent_script_id_after == parent_script_id, "and the one its scripts use"
    with redis_tls.client() as verified:
        assert int(verified.get(KEY)) == 2 + 4 * hits


SERVE_WITHOUT_REDIS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "herokuapp.settings"
import herokuapp.wsgi
from django.core import checks
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
call_command("migrate", verbosity=0)
client = Client(headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"})
https = {"secure": True}
assert "viewed <strong>1</strong>" in client.get("/", **https).content.decode()
assert client.post("/api/v1/counters/example.com/home/hit", **https).json()["value"] == 1
assert client.get("/badge/example.com/home.svg", **https).status_code == 200
assert client.get("/stats/example.com/home/", **https).status_code == 200
assert client.get("/health/ready", **https).json()["status"] == "ok"
assert not checks.run_checks(tags=["services"])
print("redis" in sys.modules)
"""


@pytest.mark.slow
def test_without_redis_url_redis_py_is_never_imported(tmp_path):
    """redis-py costs each process about 9 MiB and 40-60 ms of boot; an app without Redis (the
    embedded default) serves its page, API, badges, stats and health without loading it."""
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_REDIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dyno_environment(SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"]


PRELOAD_WITH_REDIS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "herokuapp.settings"
import herokuapp.wsgi
from counter.engine import base
from herokuapp.redis_client import get_redis
print("redis" in sys.modules, get_redis.cache_info().currsize, base._store is None)
"""


@pytest.mark.slow
def test_with_redis_url_the_preloaded_app_holds_redis_py_but_no_client(tmp_path):
    """With Redis configured, gunicorn's master imports redis-py with the app, so that its forked
    workers share those pages and their first views do not pay for the import; the client, its
    connections and the counter store are still created in each worker, after the fork (nothing
    listens at this REDIS_URL: connecting would fail)."""
    result = subprocess.run(
        [sys.executable, "-c", PRELOAD_WITH_REDIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dyno_environment(
            SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL="redis://127.0.0.1:1/0"
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "0", "True"]
