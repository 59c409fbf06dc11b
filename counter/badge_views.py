"""Badges of named counters, to embed in a README or any page: SVG, or shields.io's endpoint JSON.

An SVG badge counts a view each time it is fetched (GitHub's image proxy fetches it on each view
of the README, as its cache headers ask); ``action=get`` shows the count without counting, and
``metric=visitors`` today's unique visitors instead of all views. The JSON variant only reads,
since shields.io caches what it fetches. Errors are badges too, with the status that says what
went wrong, so that a broken badge still explains itself: a bad option is named, and a 429 or 503
says when to try again, in the same headers as the API's (a 503 comes from counter.unavailable,
as for every page). An error is no more cacheable than a count, so a badge shows the count again
as soon as there is one.
"""

import dataclasses

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from counter import badges, named, rate_limits
from counter.api import CORS_HEADERS

ACTIONS = ("hit", "get")
# What the badge shows: all views, or today's unique visitors.
METRICS = ("views", "visitors")


class BadgeError(Exception):
    """What a badge shows instead of a count, with its status and the headers that go with it."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@require_safe
def badge(request, namespace, key, format):
    """The counter's badge as SVG or shields.io JSON, counting a view unless told not to."""
    try:
        options = options_of(request)
        value = count(request, named.counter_name(namespace, key), format)
    except badges.InvalidOption as error:
        return error_badge(request, format, 400, str(error) if format == "json" else f"invalid {error.parameter}")
    except named.InvalidName as error:
        return error_badge(request, format, 400, str(error) if format == "json" else "invalid name")
    except BadgeError as error:
        return error_badge(request, format, error.status, error.message, error.headers)
    return badge_response(format, options, badges.abbreviate(value), 200)


def error_badge(request, format, status, message, headers=None):
    """A grey badge that says what went wrong in place of the count, in the look the query asks
    for if it can (the defaults if not), with ``headers`` added to the badge's own."""
    try:
        options = options_of(request)
    except badges.InvalidOption:
        options = badges.BadgeOptions()
    response = badge_response(format, dataclasses.replace(options, color="lightgrey"), message, status)
    for header, value in (headers or {}).items():
        response[header] = value
    return response


def options_of(request):
    """The badge options the query asks for; with ``metric=visitors`` the label defaults to "visitors"."""
    options = badges.parse_options(request.GET)
    if request.GET.get("metric") == "visitors" and "label" not in request.GET:
        options = dataclasses.replace(options, label="visitors")
    return options


def badge_response(format, options, message, status):
    if format == "json":
        response = JsonResponse(badges.shields_endpoint(options.label, message, options), status=status)
    else:
        response = HttpResponse(badges.render_svg(options.label, message, options), content_type=badges.SVG_CONTENT_TYPE, status=status)
    for header, value in {**badges.CACHE_HEADERS, **CORS_HEADERS}.items():
        response[header] = value
    return response


def may_create(request):
    """Refuse a new counter beyond the client's hourly allowance."""
    if refusal := rate_limits.refuses_new_counter(request):
        raise BadgeError(429, "rate limited", refusal.headers())


def count(request, name, format):
    """The value to show, after counting a view (the default for SVG on GET) or not: the counter's
    views, or with ``metric=visitors`` today's unique visitors."""
    action = request.GET.get("action", "hit" if format == "svg" else "get")
    if action not in ACTIONS:
        raise badges.InvalidOption("action", f"must be one of {', '.join(ACTIONS)}")
    metric = request.GET.get("metric", "views")
    if metric not in METRICS:
        raise badges.InvalidOption("metric", f"must be one of {', '.join(METRICS)}")
    try:
        if action == "hit" and request.method == "GET":
            value = named.hit(name, request, before_creating=lambda: may_create(request))
        else:
            value = named.get(name)
        return named.today(name)["visitors"] if metric == "visitors" else value
    except named.UnknownCounter:
        raise BadgeError(404, "not found") from None
