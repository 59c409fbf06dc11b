from django.contrib import admin

from counter import named
from counter.backends import CounterUnavailable
from counter.models import Counter, NamedCounter, PageImage


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ["name", "views"]
    search_fields = ["name"]


@admin.register(NamedCounter)
class NamedCounterAdmin(admin.ModelAdmin):
    """The API's counters with their totals and today's figures, read from the counting backend."""

    list_display = ["name", "total", "views_today", "visitors_today", "created"]
    search_fields = ["name"]
    readonly_fields = ["name", "total", "views_today", "visitors_today", "offset", "series", "created"]
    exclude = ["token_hash"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False  # counters are created through the API, which hands out their admin token

    @admin.display(description="total")
    def total(self, row):
        return self._figure(lambda: named.registry.get(row.name))

    @admin.display(description="views today")
    def views_today(self, row):
        return self._figure(lambda: named.registry.today(row.name)["views"])

    @admin.display(description="visitors today")
    def visitors_today(self, row):
        return self._figure(lambda: named.registry.today(row.name)["visitors"])

    @staticmethod
    def _figure(read):
        try:
            return f"{read():,}"
        except (CounterUnavailable, named.UnknownCounter):
            return "-"


@admin.register(PageImage)
class PageImageAdmin(admin.ModelAdmin):
    list_display = ["alt", "file", "created"]
