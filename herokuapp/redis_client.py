"""One Redis connection pool per process, created on first use from REDIS_URL.

Created lazily, so that gunicorn's master (which preloads the app) never holds a connection its
forked workers would share; redis-py itself is imported then too, so that an app without Redis
never loads it. Timeouts are short: a dead Redis must not hold a request for long. The app's Lua
scripts are sent on the pool's connections by their SHA (see Script).
"""

import functools
import hashlib

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 0.5


@functools.cache
def get_redis():
    import redis

    options = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
        "health_check_interval": 30,
        "client_name": "herokuapp",
    }
    if settings.REDIS_URL.startswith("rediss://"):
        # Passed only for rediss://: redis-py rejects SSL options on a plain connection.
        options["ssl_cert_reqs"] = settings.REDIS_SSL_CERT_REQS
    return redis.Redis.from_url(settings.REDIS_URL, **options)


@functools.cache
def registered_script(client, source):
    """A Lua script registered with ``client`` (see Script)."""
    return Script(client, source)


class Script:
    """A Lua script called by its SHA, not its text; Redis is sent the text only when it does not
    know the SHA (after a restart). Called as redis-py's own scripts are, ``script(keys=, args=)``.

    Each call takes a connection from the client's pool and sends ``EVALSHA`` on it, without
    redis-py's per-command layer (its observability hooks, argument checks and retry wrapper),
    which cost more CPU than the rest of a page view that counts in Redis. What that layer does
    for a call that fails is done by the connection itself: a timeout or a broken socket
    disconnects it before the error is raised, and the pool connects it again on its next use.
    """

    def __init__(self, client, source):
        import redis

        self.client = client
        self.pool = client.connection_pool
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.unknown = redis.exceptions.NoScriptError  # redis-py is imported with the first client

    def __call__(self, keys=(), args=()):
        try:
            return self.evalsha(keys, args)
        except self.unknown:
            self.client.script_load(self.source)
            return self.evalsha(keys, args)

    def evalsha(self, keys, args):
        connection = self.pool.get_connection()
        try:
            connection.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
            return connection.read_response()
        finally:
            self.pool.release(connection)


@receiver(setting_changed)
def _forget_client(setting, **kwargs):
    if setting.startswith("REDIS_"):
        get_redis.cache_clear()
        registered_script.cache_clear()
