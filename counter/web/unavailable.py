"""A service that is away answers 503 with Retry-After, in the form of the page that was asked for.

A view that cannot reach the database or the counter store raises; whatever it raises, the
client gets a deliberate 503 and not a 500: JSON with CORS under the API, a badge for a badge
(answered 200 so that it shows, as every error badge: see counter.web.badge_views), text for the
CSV, and the styled page elsewhere. The same answer serves whether the error is
raised by a view (OutageMiddleware) or by a middleware (counter.web.api_errors.server_error).
"""

from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import render

from counter.engine.base import CounterUnavailable
from counter.web import api, badge_views
from herokuapp.health import RETRY_AFTER_SECONDS

# The counter store turns Redis's errors into CounterUnavailable; the database raises its own.
OUTAGES = (CounterUnavailable, DatabaseError)


def response(request):
    """The 503 for ``request``, shaped like the page it asked for (as its URL resolved, if it did)."""
    match = getattr(request, "resolver_match", None)
    if api.is_api(request):
        answer = api.for_any_origin(api.unavailable().response())
    elif match and match.url_name in ("badge", "badge-trend"):
        answer = badge_views.error_badge(request, match.kwargs.get("format", "svg"), "unavailable")
    elif match and match.url_name == "stats-csv":
        answer = HttpResponse(
            "counting is unavailable for a moment; try again\n", status=503, content_type="text/plain; charset=utf-8"
        )
    else:
        answer = render(request, "503.html", status=503)
    answer["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return answer


class OutageMiddleware:
    """Answer an outage a view raised with its 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return response(request) if isinstance(exception, OUTAGES) else None
