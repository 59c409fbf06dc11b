from django.apps import AppConfig


class CounterConfig(AppConfig):
    name = "counter"
    verbose_name = "Page views"

    def ready(self):
        from counter.features import visitors  # noqa: F401 (copies visitor counts after each flush round)
