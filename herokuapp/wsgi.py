"""WSGI entry point for gunicorn (see Procfile and gunicorn.conf.py)."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver
from django.utils.module_loading import import_string

from herokuapp.environment import ConfigurationError, exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokuapp.settings")

with exit_on_configuration_error():
    django_application = get_wsgi_application()  # sets Django up, before any app module is imported
    application = import_string(settings.WSGI_WRAPPER)(django_application)
    # Serving signs cookies; check the key now rather than in the first request that needs it.
    try:
        settings.SECRET_KEY  # noqa: B018 (reading it raises when it is missing)
    except ImproperlyConfigured:
        raise ConfigurationError(
            "SECRET_KEY is required in production: set it to a long random string "
            "(heroku config:set SECRET_KEY=...), or set DEBUG=true for development"
        ) from None
    # The URLconf, with the views of the API, the badges and the admin, loaded once here: gunicorn's
    # forked workers then share it rather than each building its own copy on its first request.
    get_resolver().url_patterns  # noqa: B018 (reading it imports every view)
