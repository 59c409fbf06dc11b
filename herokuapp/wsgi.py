"""WSGI entry point for gunicorn (see Procfile and gunicorn.conf.py)."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

from herokuapp.environment import ConfigurationError, exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokuapp.settings")

with exit_on_configuration_error():
    django_application = get_wsgi_application()
    # Imported once Django is set up: the home page's fast path, answering GET / from Django's own
    # rendering (see counter.page).
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
