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

from counter import badges, history, named, rate_limits
from counter.api import CORS_HEADERS

ACTIONS = ("hit", "get")
# What the badge shows: all views, or today's unique visitors.
METRICS = ("views", "visitors")
# How views are shown: the total, or today's beside it.
VIEWS = ("total", "today-total")
TREND_DAYS = range(7, 91)


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
        message = count(request, named.counter_name(namespace, key), format)
    except badges.InvalidOption as error:
        return error_badge(request, format, 400, str(error) if format == "json" else f"invalid {error.parameter}")
    except named.InvalidName as error:
        return error_badge(request, format, 400, str(error) if format == "json" else "invalid name")
    except BadgeError as error:
        return error_badge(request, format, error.status, error.message, error.headers)
    return badge_response(format, options, message, 200)


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


def choice(request, parameter, choices, default):
    """The query's value of ``parameter``, one of ``choices``."""
    value = request.GET.get(parameter, default)
    if value not in choices:
        raise badges.InvalidOption(parameter, f"must be one of {', '.join(choices)}")
    return value


def count(request, name, format):
    """The message to show, after counting a view (the default for SVG on GET) or not: the counter's
    views (with ``view=today-total``, today's beside them), or with ``metric=visitors`` today's
    unique visitors."""
    action = choice(request, "action", ACTIONS, "hit" if format == "svg" else "get")
    metric = choice(request, "metric", METRICS, "views")
    view = choice(request, "view", VIEWS, "total")
    if metric == "visitors" and view != "total":
        raise badges.InvalidOption("view", "today-total shows views; it does not go with metric=visitors")
    try:
        if action == "hit" and request.method == "GET":
            counted = named.hit(name, request, before_creating=lambda: may_create(request))
            total, today = counted.value, counted.today
        else:
            total, today = named.get(name), None
        if metric == "visitors":
            return badges.abbreviate(named.today(name)["visitors"])
        if view == "today-total":
            today = named.today(name)["views"] if today is None else today
            return f"{badges.abbreviate(today)} / {badges.abbreviate(total)}"
        return badges.abbreviate(total)
    except named.UnknownCounter:
        raise BadgeError(404, "not found") from None


@require_safe
def trend(request, namespace, key):
    """The counter's views per day over the last ``days`` (7 to 90, 30 by default) as a sparkline
    badge, read without counting unless ``action=hit``."""
    try:
        options = options_of(request)
        name = named.counter_name(namespace, key)
        days = request.GET.get("days", "30")
        if not days.isdigit() or int(days) not in TREND_DAYS:
            raise badges.InvalidOption("days", f"must be a whole number from {TREND_DAYS.start} to {TREND_DAYS.stop - 1}")
        if choice(request, "action", ACTIONS, "get") == "hit" and request.method == "GET":
            named.hit(name, request, before_creating=lambda: may_create(request))
        row = named.existing(name)
    except badges.InvalidOption as error:
        return error_badge(request, "svg", 400, f"invalid {error.parameter}")
    except named.InvalidName:
        return error_badge(request, "svg", 400, "invalid name")
    except named.UnknownCounter:
        return error_badge(request, "svg", 404, "not found")
    except BadgeError as error:
        return error_badge(request, "svg", error.status, error.message, error.headers)
    views = [count for _, count in history.views_per_day(row.series, int(days))]
    response = HttpResponse(badges.render_trend_svg(options.label, views, options), content_type=badges.SVG_CONTENT_TYPE)
    for header, value in {**badges.CACHE_HEADERS, **CORS_HEADERS}.items():
        response[header] = value
    return response
