from django.contrib import admin

from counter.engine.base import CounterUnavailable, get_store
from counter.features import named
from counter.models import Counter, NamedCounter, PageImage


def figure(read):
    """A count read for display, or "-" if no store can answer now."""
    try:
        return f"{read():,}"
    except (CounterUnavailable, named.UnknownCounter):
        return "-"


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    """Every count the app keeps (the page's, each named counter's and their days'), as the
    counter store reads it: with Redis, the row lags by the views not flushed yet. Read-only: a
    count changes by views alone, and Redis keeps copies of the totals that an edit or a deletion
    by hand would leave behind."""

    list_display = ["name", "count"]
    search_fields = ["name"]
    fields = ["name", "count"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="views")
    def count(self, row):
        return figure(lambda: get_store().get(row.name))


@admin.register(NamedCounter)
class NamedCounterAdmin(admin.ModelAdmin):
    """The API's counters with their totals and today's figures, read from the counter store."""

    list_display = ["name", "total", "views_today", "visitors_today", "created"]
    search_fields = ["name"]
    readonly_fields = ["name", "total", "views_today", "visitors_today", "offset", "series", "created", "first_day"]
    exclude = ["token_hash"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False  # counters are created through the API, which hands out their admin token

    @admin.display(description="total")
    def total(self, row):
        return figure(lambda: named.get(row.name))

    @admin.display(description="views today")
    def views_today(self, row):
        return figure(lambda: named.today(row.name)["views"])

    @admin.display(description="visitors today")
    def visitors_today(self, row):
        return figure(lambda: named.today(row.name)["visitors"])


@admin.register(PageImage)
class PageImageAdmin(admin.ModelAdmin):
    list_display = ["alt", "file", "created"]
