"""A page of figures per named counter: its total, views per day as a chart with the known
crawlers' requests (counter.features.bots) stacked on them, views, unique visitors and bots per day as a
table, and snippets that show the counter on another site (counter.features.snippets); and the same days
as CSV.

Each answer reads its days together, in a few queries or round trips however many days, and
counts against the client's allowance of stats requests (rate_limits.STATS), so that one client
asking for years of CSV cannot take the time of everyone else's pages.
"""

import csv
import functools

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from counter.features import charts, history, named, rate_limits, snippets
from counter.web import unavailable

MAX_CSV_DAYS = 366


def existing_counter(namespace, key):
    try:
        name = named.counter_name(namespace, key)
        return name, named.existing(name)
    except (named.InvalidName, named.UnknownCounter):
        raise Http404("no such counter") from None


def limited(refuse):
    """Count each request against the client's allowance; beyond it, ``refuse(request, message)``
    answers instead of the view, with a 429. Answers carry the RateLimit fields, a 503 for a service
    away (counter.web.unavailable) too, and, refused, Retry-After."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            decision = rate_limits.take(rate_limits.STATS, rate_limits.client_of(request))
            if decision.allowed:
                try:
                    response = view(request, *args, **kwargs)
                except unavailable.OUTAGES:
                    response = unavailable.response(request)
            else:
                limit = decision.limit
                response = refuse(
                    request,
                    f"At most {limit.quota} stats requests per {limit.window} s from one "
                    f"address; try again in {decision.reset} s.",
                )
            for header, value in decision.headers().items():
                response[header] = value
            return response

        return wrapper

    return decorate


def refused_page(request, message):
    return render(request, "counter/rate_limited.html", {"message": message}, status=429)


def refused_csv(request, message):
    return HttpResponse(f"{message}\n", status=429, content_type="text/plain")


@never_cache
@require_safe
@limited(refused_page)
def page(request, namespace, key):
    name, row = existing_counter(namespace, key)
    days = per_day(row.series, history.DAYS_SHOWN)
    context = {
        "name": name,
        "namespace": namespace,
        "key": key,
        "total": f"{named.shown(row):,}",
        "today": f"{days[-1][1]:,}",
        "visitors_today": f"{days[-1][2]:,}",
        "days": [(day, f"{views:,}", f"{unique:,}", f"{bots:,}") for day, views, unique, bots in reversed(days)],
        "chart": charts.bar_chart(
            [(day, views) for day, views, _, _ in days],
            f"Views of {name} per day, the last {len(days)} days, with bots (not counted) above them",
            bots=[(day, bots) for day, _, _, bots in days],
        ),
        "snippets": snippets.for_counter(request, namespace, key),
        "previews": snippets.previews(namespace, key),
    }
    return render(request, "counter/stats.html", context)


@never_cache
@require_safe
@limited(refused_csv)
def views_csv(request, namespace, key):
    """Views, unique visitors and bots per day as CSV: the last 30 days, or ``?days=N`` up to a year."""
    name, row = existing_counter(namespace, key)
    try:
        days = int(request.GET.get("days", history.DAYS_SHOWN))
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_CSV_DAYS:
        return HttpResponse(
            f"days must be a whole number from 1 to {MAX_CSV_DAYS}\n", status=400, content_type="text/plain"
        )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{namespace}-{key}-views.csv"'
    writer = csv.writer(response)
    writer.writerow(["day", "views", "visitors", "bots"])
    writer.writerows((day.isoformat(), *figures) for day, *figures in per_day(row.series, days))
    return response


def per_day(series, days):
    """[(day, views, unique visitors, bots)] for the last ``days`` days, oldest first: a call of
    the store for the views and bots together, and one read of the visitors."""
    counts = history.counts_per_day(series, days, history.day_name, history.bots_name)
    visitors = history.visitors_per_day(series, days)
    return [(day, views, unique, bots) for (day, views, bots), (_, unique) in zip(counts, visitors, strict=True)]
