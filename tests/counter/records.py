"""The database's durable record of a counter, as the tests check the counter's promise against it."""

from django.db.models import Sum

from counter.models import Counter, OutageView


def durable_total(name):
    """Views of ``name`` the database holds: flushed batches plus outage rows."""
    flushed = Counter.objects.filter(name=name).values_list("views", flat=True).first() or 0
    outage = OutageView.objects.filter(name=name).aggregate(views=Sum("views"))["views"] or 0
    return flushed + outage
