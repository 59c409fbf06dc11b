"""The real services tests talk to, and what happens when one is missing.

On a developer's machine a missing service skips the tests that need it, saying how to start it.
In CI (CI=true) a missing service fails those tests: nothing is skipped in silence.
"""

import os
import socket
import urllib.parse
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def without_password(url):
    """``url`` with its password masked: Heroku's URLs carry one, and CI logs are read by many."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def missing(service, url, error):
    message = f"{service} is not reachable at {without_password(url)} ({error}); start it with: {START[service]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs {service}: {message}", pytrace=False)
    pytest.skip(message)


def require_program(program, package):
    """Skip, saying how to install it (fail in CI), when ``program`` is not on PATH."""
    import shutil

    if shutil.which(program) is None:
        message = f"{program} is not on PATH; install it with: apt-get install {package}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs {message}", pytrace=False)
        pytest.skip(message)


def postgres_available():
    import psycopg

    try:
        psycopg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://"), connect_timeout=3).close()
    except psycopg.OperationalError as error:
        missing("PostgreSQL", POSTGRES_ADMIN_URL, str(error).strip().splitlines()[0])


def redis_available():
    import redis

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        missing("Redis", REDIS_TEST_URL, error)


class PostgresDatabase:
    """A database of its own on the test PostgreSQL server, dropped afterwards."""

    def __init__(self):
        import psycopg

        postgres_available()
        self.name = f"herokuapp_{uuid.uuid4().hex[:12]}"
        self._admin = psycopg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True)
        self._admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self):
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def report():
    """Print which services are reachable; exit status 1 if any is not (used by bin/test)."""
    import sys

    unreachable = 0
    for check in (postgres_available, redis_available):
        try:
            check()
        except (pytest.skip.Exception, pytest.fail.Exception) as outcome:
            unreachable += 1
            print(f"missing: {outcome.msg}", file=sys.stderr)
    sys.exit(1 if unreachable else 0)


if __name__ == "__main__":
    report()
