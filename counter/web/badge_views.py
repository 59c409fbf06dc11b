"""Badges of named counters, to embed in a README or any page: SVG, or shields.io's endpoint JSON.

An SVG badge counts a view each time it is fetched (GitHub's image proxy fetches it on each view
of the README, as its cache headers ask), unless a known crawler fetches it (counter.features.bots);
``action=get`` shows the count without counting, and ``metric=visitors`` today's unique visitors
instead of all views. The JSON variant only reads,
since shields.io caches what it fetches. Errors are badges too, so that a broken badge still
explains itself: a bad option is named with the reason, a refusal or an outage says so and when
to try again, in the same headers as the API's (an outage comes from counter.web.unavailable, as for
every page). An error badge answers 200: GitHub's image proxy shows nothing but a broken image
for any other status, and shields.io's endpoint badge replaces the JSON of any other status with
its own "invalid" or "inaccessible"; the JSON says ``isError`` instead. An error is no more
cacheable than a count, so a badge shows the count again as soon as there is one.
"""

import dataclasses

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from counter.features import badges, history, named, rate_limits
from counter.web.api import CORS_HEADERS

ACTIONS = ("hit", "get")
# What the badge shows: all views, or today's unique visitors.
METRICS = ("views", "visitors")
# How views are shown: the total, or today's beside it.
VIEWS = ("total", "today-total")
TREND_DAYS = range(7, 91)


# Every badge is readable from any page and never kept by a cache (see badges.CACHE_HEADERS).
HEADERS = {**badges.CACHE_HEADERS, **CORS_HEADERS}
# What an SVG badge says of a namespace or key it cannot take.
NAME_REASON = "must be 1-64 of A-Za-z0-9_.-"


class BadgeError(Exception):
    """What a badge shows instead of a count, and the headers that go with it."""

    def __init__(self, message, headers=None):
        super().__init__(message)
        self.message, self.headers = message, headers or {}


def answer(request, format, draw):
    """The badge ``draw(options)`` makes from the options the query asks for, or the error badge of
    what went wrong on the way."""
    try:
        return draw(options_of(request))
    except badges.InvalidOption as error:
        return error_badge(request, format, str(error), label=error.parameter, reason=error.reason)
    except named.InvalidName as error:
        return error_badge(request, format, str(error), label="name", reason=NAME_REASON)
    except BadgeError as error:
        return error_badge(request, format, error.message, error.headers)


@require_safe
def badge(request, namespace, key, format):
    """The counter's badge as SVG or shields.io JSON, counting a view unless told not to."""
    return answer(
        request,
        format,
        lambda options: badge_response(format, options, count(request, named.counter_name(namespace, key), format)),
    )


def error_badge(request, format, message, headers=None, label=None, reason=None):
    """A grey badge that says what went wrong in place of the count, answered 200 so that it shows
    (see above), in the look the query asks for if it can (the defaults if not), with ``headers``
    added to the badge's own. An SVG badge may say it shorter: ``label`` for the label, such as
    the parameter at fault, and ``reason`` for the message; the JSON keeps the whole message."""
    try:
        options = options_of(request)
    except badges.InvalidOption:
        options = badges.BadgeOptions()
    options = dataclasses.replace(options, color="lightgrey")
    if format == "svg" and label is not None:
        options = dataclasses.replace(options, label=label)
    response = badge_response(format, options, reason if format == "svg" and reason else message, is_error=True)
    for header, value in (headers or {}).items():
        response[header] = value
    return response


def options_of(request):
    """The badge options the query asks for; with ``metric=visitors`` the label defaults to "visitors"."""
    options = badges.parse_options(request.GET)
    if request.GET.get("metric") == "visitors" and "label" not in request.GET:
        options = dataclasses.replace(options, label="visitors")
    return options


def badge_response(format, options, message, is_error=False):
    if format == "json":
        return JsonResponse(
            badges.shields_endpoint(options.label, message, options, is_error=is_error), headers=HEADERS
        )
    return svg_response(badges.render_svg(options.label, message, options))


def svg_response(svg):
    return HttpResponse(svg, content_type=badges.SVG_CONTENT_TYPE, headers=HEADERS)


def may_create(request):
    """Refuse a new counter beyond the client's hourly allowance."""
    if refusal := rate_limits.refuses_new_counter(request):
        raise BadgeError("rate limited", refusal.headers())


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
        elif metric == "visitors" or view == "today-total":
            total, counts = named.read(name)
            today = counts["views"]
            if metric == "visitors":
                return badges.abbreviate(counts["visitors"])
        else:
            total, today = named.get(name), None
        if metric == "visitors":
            return badges.abbreviate(named.today(name)["visitors"])
        if view == "today-total":
            today = named.today(name)["views"] if today is None else today
            return f"{badges.abbreviate(today)} / {badges.abbreviate(total)}"
        return badges.abbreviate(total)
    except named.UnknownCounter:
        raise BadgeError("not found") from None


@require_safe
def trend(request, namespace, key):
    """The counter's views per day over the last ``days`` (7 to 90, 30 by default) as a sparkline
    badge, read without counting unless ``action=hit``."""

    def draw(options):
        name = named.counter_name(namespace, key)
        days = request.GET.get("days", "30")
        if not days.isdigit() or int(days) not in TREND_DAYS:
            raise badges.InvalidOption(
                "days", f"must be a whole number from {TREND_DAYS.start} to {TREND_DAYS.stop - 1}"
            )
        if choice(request, "action", ACTIONS, "get") == "hit" and request.method == "GET":
            named.hit(name, request, before_creating=lambda: may_create(request))
        try:
            row = named.existing(name)
        except named.UnknownCounter:
            raise BadgeError("not found") from None
        views = [views for _, views in history.views_per_day(row.series, int(days))]
        return svg_response(badges.render_trend_svg(options.label, views, options))

    return answer(request, "svg", draw)
