from django.contrib import admin

from counter.models import Counter, PageImage


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ["name", "views"]
    search_fields = ["name"]


@admin.register(PageImage)
class PageImageAdmin(admin.ModelAdmin):
    list_display = ["alt", "file", "created"]
