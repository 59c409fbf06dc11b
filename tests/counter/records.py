"""The database's record of a counter, as the tests check the counter's promise against it and
hold it."""

import contextlib
import threading

from django.db import connection, transaction
from django.db.models import Sum

from counter.models import Counter, OutageView


def durable_total(name):
    """Views of ``name`` the database holds: flushed batches plus outage rows."""
    flushed = Counter.objects.filter(name=name).values_list("views", flat=True).first() or 0
    outage = OutageView.objects.filter(name=name).aggregate(views=Sum("views"))["views"] or 0
    return flushed + outage


@contextlib.contextmanager
def row_held_elsewhere(name):
    """While the block runs, another transaction, in a thread of its own, holds the counter's row
    locked, as a concurrent view would; a statement that needs the row waits for it."""
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Counter.objects.select_for_update().get(name=name)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(10), "the other transaction took the row's lock"
        yield
    finally:
        release.set()
        holder.join(10)
