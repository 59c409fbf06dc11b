"""One Redis connection pool per process, created on first use from REDIS_URL.

Created lazily, so that gunicorn's master (which preloads the app) never holds a connection its
forked workers would share; redis-py itself is imported then too, so that an app without Redis
never loads it. Timeouts are short: a dead Redis must not hold a request for long.
"""

import functools

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
    """A Lua script registered with ``client``: each call sends its SHA, not its text, and Redis
    loads the text only when it does not know the SHA (after a restart)."""
    return client.register_script(source)


@receiver(setting_changed)
def _forget_client(setting, **kwargs):
    if setting.startswith("REDIS_"):
        get_redis.cache_clear()
        registered_script.cache_clear()
