"""System checks that each configured service answers, so that `manage.py check` and the release
phase (migrate runs every check) name a wrong URL, password or unreachable host before any dyno
serves a half-working app. Build-time commands such as collectstatic do not run them."""

from django.conf import settings
from django.core.checks import Error, register
from django.db import DEFAULT_DB_ALIAS, connections

SERVICES = "services"


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@register(SERVICES)
def check_database(app_configs=None, **kwargs):
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.ensure_connection()
    except Exception as error:
        return [
            Error(
                f"DATABASE_URL: cannot connect to the database: {first_line(error)}",
                hint="Check the URL's host, port, user, password and database name.",
                id="herokuapp.E001",
            )
        ]
    return []


@register(SERVICES)
def check_redis(app_configs=None, **kwargs):
    if not settings.REDIS_URL:
        return []
    import redis

    from herokuapp.redis_client import get_redis

    try:
        get_redis().ping()
    except redis.AuthenticationError as error:
        problem, hint = f"Redis refused the credentials: {first_line(error)}", "Check the password in the URL."
    except redis.RedisError as error:
        problem = f"cannot reach Redis: {first_line(error)}"
        hint = "Check the host and port; for rediss:// see REDIS_SSL_CERT_REQS."
    else:
        return []
    return [Error(f"REDIS_URL: {problem}", hint=hint, id="herokuapp.E002")]
