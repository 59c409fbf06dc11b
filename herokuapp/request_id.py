"""Heroku's X-Request-Id, carried from the router into every log line of the request."""

import logging
import re
import uuid
from contextvars import ContextVar

from django.core.signals import request_finished
from django.dispatch import receiver

# Heroku's router sends 20 to 200 characters of this alphabet; anything else is replaced so that
# a client cannot inject text into the logs.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9+/=_.-]{1,200}")

current_request_id = ContextVar("request_id", default="-")


def request_id_of(environ):
    """The router's X-Request-Id from a WSGI environ, or a new id if it is missing or malformed."""
    request_id = environ.get("HTTP_X_REQUEST_ID", "")
    if not VALID_REQUEST_ID.fullmatch(request_id):
        request_id = uuid.uuid4().hex
    return request_id


class RequestIdMiddleware:
    """Take the router's request id (or make one), expose it to logging and echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_of(request.META)
        request.request_id = request_id
        # Kept until the response is closed: Django logs a 4xx or 5xx after the middleware returns.
        current_request_id.set(request_id)
        response = self.get_response(request)
        response.headers["X-Request-Id"] = request_id
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs):
    current_request_id.set("-")


class RequestIdLogFilter(logging.Filter):
    """Put the current request's id on every record as ``request_id`` ('-' outside a request)."""

    def filter(self, record):
        record.request_id = current_request_id.get()
        return True
