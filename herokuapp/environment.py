"""Typed reads of environment variables that fail with one line naming the variable.

Settings and gunicorn.conf.py read their configuration through these helpers, so that a wrong
value stops the process at start instead of surfacing as a traceback deep in a request.
"""

import os
import sys
from contextlib import contextmanager
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
DATABASE_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}


class ConfigurationError(ImproperlyConfigured):
    """A configuration value is missing or malformed; the message names the variable."""


def string(name, default=""):
    return os.environ.get(name, default).strip()


def boolean(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def integer(name, default, minimum=None, maximum=None):
    return _numeric(name, default, int, "a whole number", minimum, maximum)


def number(name, default, minimum=None, maximum=None):
    return _numeric(name, default, float, "a number", minimum, maximum)


def _numeric(name, default, kind, described, minimum, maximum):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be {described}, not {raw!r}") from None
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigurationError(f"{name} must be {bounds}, not {raw}")
    return value


def choice(name, default, choices):
    value = string(name, default).lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(sorted(choices))}, not {value!r}")
    return value


def comma_list(name, default=()):
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def database(name, default, conn_max_age, require_ssl):
    """Parse a database URL with dj-database-url, adding sslmode=require for PostgreSQL when asked.

    An sslmode given in the URL's query (``?sslmode=disable``) wins over ``require_ssl``.
    """
    import dj_database_url

    url = string(name) or default
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    except dj_database_url.UnknownSchemeError:
        config = {"ENGINE": None}
    except ValueError:
        raise ConfigurationError(f"{name} is not a well-formed URL: check its port and quoting") from None
    if config["ENGINE"] not in DATABASE_ENGINES:
        scheme = url.split(":", 1)[0]
        raise ConfigurationError(f"{name} must start with postgres:// or sqlite://, not {scheme!r}")
    if config["ENGINE"] == "django.db.backends.postgresql":
        if not config.get("NAME") or not config.get("HOST"):
            raise ConfigurationError(
                f"{name} must name a host and a database, as postgres://user:password@host:5432/name"
            )
        if require_ssl:
            config.setdefault("OPTIONS", {}).setdefault("sslmode", "require")
    return config


def _split_url(name, url, described):
    """Split ``url``, reading its port now so that a malformed one fails at start, not in a request."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it raises for a bad port)
    except ValueError as error:
        raise ConfigurationError(f"{name} is not {described} ({error})") from None
    return parts


def redis_url(name):
    """Return the Redis URL in ``name`` ('' when unset) after checking its form."""
    url = string(name)
    if not url:
        return ""
    parts = _split_url(name, url, "a Redis URL")
    if not url.startswith(("redis://", "rediss://", "unix://")):  # redis-py reads the scheme case-sensitively
        raise ConfigurationError(
            f"{name} must start with redis://, rediss:// or unix://, not {parts.scheme or 'a URL without a scheme'!r}"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigurationError(f"{name} must name a host, as redis://:password@host:6379")
    return url


def http_url(name, example):
    """Return the http(s) URL in ``name`` ('' when unset) after checking that it names a host."""
    url = string(name)
    if not url:
        return ""
    parts = _split_url(name, url, "a URL")
    if parts.scheme not in {"http", "https"}:
        raise ConfigurationError(
            f"{name} must start with https:// or http://, not {parts.scheme or 'a URL without a scheme'!r}"
        )
    if not parts.hostname:
        raise ConfigurationError(f"{name} must name a host, as {example}")
    return url


@contextmanager
def exit_on_configuration_error():
    """Turn a configuration error into one line on stderr and exit status 1, with no traceback."""
    try:
        yield
    except ImproperlyConfigured as error:
        sys.exit(f"herokuapp: configuration error: {error}")
