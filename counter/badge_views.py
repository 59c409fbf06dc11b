"""Badges of named counters, to embed in a README or any page: SVG, or shields.io's endpoint JSON.

An SVG badge counts a view each time it is fetched (GitHub's image proxy fetches it on each view
of the README, as its cache headers ask); ``action=get`` shows the count without counting, and
``metric=visitors`` today's unique visitors instead of all views. The
JSON variant only reads, since shields.io caches what it fetches. Errors are badges too, with
the status that says what went wrong, so that a broken badge still explains itself.
"""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from counter import badges, named, rate_limits
from counter.api import CORS_HEADERS
from counter.engine.base import CounterUnavailable

ACTIONS = ("hit", "get")
# What the badge shows: all views, or today's unique visitors.
METRICS = ("views", "visitors")


class BadgeError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


@require_safe
def badge(request, namespace, key, format):
    options = badges.BadgeOptions()
    try:
        options = badges.parse_options(request.GET)
        if request.GET.get("metric") == "visitors" and "label" not in request.GET:
            options = badges.BadgeOptions(options.style, "visitors", options.color, options.label_color)
        name = named.counter_name(namespace, key)
        message = badges.abbreviate(count(request, name, format))
        status, color = 200, options.color
    except ValueError as error:
        status, message, color = 400, str(error) if format == "json" else "invalid", "lightgrey"
    except BadgeError as error:
        status, message, color = error.status, error.message, "lightgrey"
    shown = badges.BadgeOptions(options.style, options.label, color, options.label_color)
    if format == "json":
        response = JsonResponse(badges.shields_endpoint(options.label, message, shown), status=status)
    else:
        response = HttpResponse(badges.render_svg(options.label, message, shown), content_type=badges.SVG_CONTENT_TYPE, status=status)
    for header, value in {**badges.CACHE_HEADERS, **CORS_HEADERS}.items():
        response[header] = value
    return response


def count(request, name, format):
    """The value to show, after counting a view (the default for SVG on GET) or not: the counter's
    views, or with ``metric=visitors`` today's unique visitors."""
    action = request.GET.get("action", "hit" if format == "svg" else "get")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    metric = request.GET.get("metric", "views")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    try:
        if action == "hit" and request.method == "GET":
            if rate_limits.refuses_new_counter(request, name):
                raise BadgeError(429, "rate limited")
            value = named.registry.hit(name, request)
        else:
            value = named.registry.get(name)
        return named.registry.today(name)["visitors"] if metric == "visitors" else value
    except named.UnknownCounter:
        raise BadgeError(404, "not found") from None
    except CounterUnavailable:
        raise BadgeError(503, "unavailable") from None
