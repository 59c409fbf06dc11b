"""WSGI entry point for gunicorn (see Procfile and gunicorn.conf.py)."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application
from django.template.loader import get_template
from django.urls import get_resolver
from django.utils.module_loading import import_string

from herokuapp.environment import ConfigurationError, exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokuapp.settings")

with exit_on_configuration_error():
    django_application = get_wsgi_application()
    # Imported once Django is set up: the home page's fast path, answering GET / from Django's own
    # rendering (see counter.page).
    from counter.engine.base import STORES
    from counter.page import CounterPage

    application = CounterPage(django_application)
    # Serving signs cookies; check the key now rather than in the first request that needs it.
    try:
        settings.SECRET_KEY
    except ImproperlyConfigured:
        raise ConfigurationError(
            "SECRET_KEY is required in production: set it to a long random string "
            "(heroku config:set SECRET_KEY=...), or set DEBUG=true for development"
        ) from None
    # What each process's first page loads, loaded once here: gunicorn's forked workers then share
    # it rather than each building its own copy (about 2 MiB each): the URLconf, with the views
    # of the API, the badges and the admin, and the templates of the page and of its 503, with
    # every template library.
    get_resolver().url_patterns
    get_template("counter/index.html")
    get_template("503.html")
    # The configured counter store's code: with Redis, redis-py (about 9 MiB and 80 ms of imports
    # a process), which would otherwise be imported by each worker's first page view. Only
    # imported: the store and its connections are created in each worker, after the fork.
    import_string(STORES[settings.COUNTER_STORE])
