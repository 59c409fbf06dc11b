"""What a read sends to the services: SQL statements through Django's connection, and commands to
Redis through a RedisLink (tests/counter/engine/conftest.py) that REDIS_URL points at. The app
pipelines no Redis commands, so each command sent is one round trip."""

import contextlib

import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from counter.engine.base import stop_store
from tests.counter.engine.conftest import RedisLink, credentials

# What redis-py sends on each new connection before the app's own commands.
HANDSHAKE = {"HELLO", "AUTH", "CLIENT", "SELECT", "PING"}


class Sent:
    """Counts what ``read()`` sends; ``link`` is None when the app uses no Redis."""

    def __init__(self, link=None):
        self.link = link

    def __call__(self, read, leave_out=None):
        """(SQL statements, Redis commands, result) of ``read()``, without the statements holding
        ``leave_out`` (a table name)."""
        before = len(self.link.commands) if self.link else 0
        with CaptureQueriesContext(connection) as queries:
            result = read()
        statements = [query for query in queries.captured_queries if not leave_out or leave_out not in query["sql"]]
        commands = [command for command in self.link.commands[before:] if command not in HANDSHAKE] if self.link else []
        return len(statements), len(commands), result


@contextlib.contextmanager
def sent_by_the_app(settings):
    """A Sent for the block: with COUNTER_STORE=redis, REDIS_URL goes through a RedisLink to the
    same database (the store starts anew on it) and back at the end, after the store stopped."""
    if settings.COUNTER_STORE != "redis":
        yield Sent()
        return
    options = redis.Redis.from_url(settings.REDIS_URL).connection_pool.connection_kwargs
    link = RedisLink(options["host"], options["port"])
    settings.REDIS_URL = link.url(options.get("db", 0), credentials(settings.REDIS_URL))
    try:
        yield Sent(link)
    finally:
        stop_store()  # its last flush goes through the link while it is there
        link.close()
