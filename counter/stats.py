"""A page of figures per named counter: its total, views per day as a chart, views and unique
visitors per day as a table, and the same days as CSV."""

import csv

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from counter import charts, history, named

MAX_CSV_DAYS = 366


def existing_counter(namespace, key):
    try:
        name = named.counter_name(namespace, key)
        return name, named.registry.existing(name)
    except (named.InvalidName, named.UnknownCounter):
        raise Http404("no such counter") from None


@never_cache
@require_safe
def page(request, namespace, key):
    name, row = existing_counter(namespace, key)
    days = history.views_per_day(row.series)
    visitors = history.visitors_per_day(row.series)
    context = {
        "name": name,
        "namespace": namespace,
        "key": key,
        "total": f"{named.registry.get(name):,}",
        "today": f"{days[-1][1]:,}",
        "visitors_today": f"{visitors[-1][1]:,}",
        "days": [
            (day, f"{views:,}", f"{unique:,}") for (day, views), (_, unique) in zip(reversed(days), reversed(visitors))
        ],
        "chart": charts.bar_chart(days, f"Views of {name} per day, the last {len(days)} days"),
    }
    return render(request, "counter/stats.html", context)


@never_cache
@require_safe
def views_csv(request, namespace, key):
    """Views and unique visitors per day as CSV: the last 30 days, or ``?days=N`` up to a year."""
    name, row = existing_counter(namespace, key)
    try:
        days = int(request.GET.get("days", history.DAYS_SHOWN))
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_CSV_DAYS:
        return HttpResponse(f"days must be a whole number from 1 to {MAX_CSV_DAYS}\n", status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{namespace}-{key}-views.csv"'
    writer = csv.writer(response)
    writer.writerow(["day", "views", "visitors"])
    writer.writerows(
        (day.isoformat(), views, unique)
        for (day, views), (_, unique) in zip(history.views_per_day(row.series, days), history.visitors_per_day(row.series, days))
    )
    return response
