"""A counter's data, to keep or to carry to another service: its value, and its views, unique
visitors and bots for every day from its first to today (UTC), as JSON or CSV.

However many days there are, they are read in a few queries and round trips: the row, then one
call of the store for the total and every day's views and bots, and the visitors all at once. An
export's days but today's are a history a creation takes back (counter.features.carried_history).
"""

import csv
import datetime

from django.http import HttpResponse

from counter.engine.base import get_store
from counter.features import history, named, visitors
from counter.models import NamedCounter

CSV_FIELDS = ["day", "views", "visitors", "bots"]


def first_day(row):
    """The counter's first day: kept on its row, or for a row older than that, its creation's."""
    return row.first_day or row.created.astimezone(datetime.UTC).date()


def export(name):
    """{"namespace", "key", "value", "created", "days": [{"day", "views", "visitors", "bots"}]} of
    the counter ``name``, its days oldest first."""
    row = NamedCounter.objects.filter(name=name).first()
    if row is None:
        raise named.UnknownCounter(name)
    days = history.days_since(first_day(row))
    views = [history.day_name(row.series, day) for day in days]
    bots = [history.bots_name(row.series, day) for day in days]
    counts = get_store().get_many([name, *views, *bots])
    unique = visitors.counts(views)
    namespace, _, key = name.partition("/")
    return {
        "namespace": namespace,
        "key": key,
        "value": counts[name] - row.offset,
        "created": row.created.isoformat(),
        "days": [
            {
                "day": day.isoformat(),
                "views": counts[views_name],
                "visitors": unique[views_name],
                "bots": counts[bots_name],
            }
            for day, views_name, bots_name in zip(days, views, bots, strict=True)
        ],
    }


def csv_response(exported):
    """The days of an export as a CSV file named after the counter."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{exported["namespace"]}-{exported["key"]}.csv"'
    writer = csv.DictWriter(response, CSV_FIELDS)
    writer.writeheader()
    writer.writerows(exported["days"])
    return response
